namespace DataflowProducer.Kafka;

/// <summary>What <see cref="KafkaTopics.EnsureAsync(Confluent.Kafka.IAdminClient, EnsureTopicOptions, Microsoft.Extensions.Logging.ILogger?, CancellationToken)"/>
/// found and did.</summary>
public sealed class EnsureTopicResult
{
    internal EnsureTopicResult(string topic, EnsureTopicOutcome outcome, int partitions, IReadOnlyList<string> differences, IReadOnlyList<string> changes)
    {
        Topic = topic;
        Outcome = outcome;
        Partitions = partitions;
        Differences = differences;
        Changes = changes;
    }

    /// <summary>Gets the topic.</summary>
    public string Topic { get; }

    /// <summary>Gets what happened.</summary>
    public EnsureTopicOutcome Outcome { get; }

    /// <summary>Gets the topic's partition count afterwards.</summary>
    public int Partitions { get; }

    /// <summary>Gets the differences left in place, one line each (for example "retention.ms is 604800000, not the
    /// asked 86400000"); empty when <see cref="Outcome"/> is <see cref="EnsureTopicOutcome.Created"/> or
    /// <see cref="EnsureTopicOutcome.Matched"/>.</summary>
    public IReadOnlyList<string> Differences { get; }

    /// <summary>Gets what was changed, one line each; empty unless <see cref="Outcome"/> is
    /// <see cref="EnsureTopicOutcome.Altered"/>.</summary>
    public IReadOnlyList<string> Changes { get; }
}
