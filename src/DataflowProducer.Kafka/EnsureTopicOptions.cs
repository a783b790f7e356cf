using System.Globalization;

namespace DataflowProducer.Kafka;

/// <summary>The topic to ensure before producing, and what to do when it exists: see
/// <see cref="KafkaTopics"/>. Copied when it is used.</summary>
/// <remarks>Bindable from configuration, for example
/// <c>{ "Partitions": 6, "ReplicationFactor": 3, "Configs": { "retention.ms": "86400000" }, "WhenExists": "AlterConfigs" }</c>.</remarks>
public sealed class EnsureTopicOptions
{
    internal const int DefaultPartitions = 1;
    internal static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);
    private const string Name = nameof(EnsureTopicOptions);

    private Dictionary<string, string> _configs = new(StringComparer.Ordinal);

    /// <summary>Gets or sets the topic's name.</summary>
    /// <value>The default is null: the producer's default topic (<see cref="KafkaSinkOptions{TKey, TValue}.DefaultTopic"/>)
    /// where there is one; <see cref="KafkaTopics.EnsureAsync(Confluent.Kafka.IAdminClient, EnsureTopicOptions, Microsoft.Extensions.Logging.ILogger?, CancellationToken)"/>
    /// needs it set.</value>
    public string? Topic { get; set; }

    /// <summary>Gets or sets the number of partitions: the topic is created with it, and an existing topic with fewer
    /// is an error unless <see cref="AllowPartitionGrowth"/>; more is reported, not an error.</summary>
    /// <value>At least 1. The default is 1.</value>
    public int Partitions { get; set; } = DefaultPartitions;

    /// <summary>Gets or sets the replication factor the topic is created with, and checked against (a difference is
    /// reported, never changed).</summary>
    /// <value>At least 1, or null. The default is null: the broker's <c>default.replication.factor</c> on creation
    /// (Kafka 2.4+), and not checked.</value>
    public int? ReplicationFactor { get; set; }

    /// <summary>Gets the topic configs (for example <c>retention.ms</c>, <c>cleanup.policy</c>): set on creation, and
    /// compared (DescribeConfigs, Kafka 0.11+) when the topic exists. Empty: no config is read or compared.</summary>
    /// <value>The default is empty.</value>
    public Dictionary<string, string> Configs => _configs;

    /// <summary>Gets or sets what happens when the topic exists and a config differs.</summary>
    /// <value>The default is <see cref="TopicExistsBehavior.Verify"/>: report the differences, change nothing.</value>
    public TopicExistsBehavior WhenExists { get; set; } = TopicExistsBehavior.Verify;

    /// <summary>Gets or sets a value indicating whether an existing topic with fewer partitions than
    /// <see cref="Partitions"/> gets partitions added (CreatePartitions, Kafka 1.0+) instead of failing. Adding
    /// partitions moves keys to other partitions: records of one key are no longer all in one partition.</summary>
    /// <value>The default is false.</value>
    public bool AllowPartitionGrowth { get; set; }

    /// <summary>Gets or sets how long ensuring may take in all, requests to the brokers included; past it, it fails
    /// with a <see cref="KafkaTopicException"/> instead of waiting on.</summary>
    /// <value>Greater than zero. The default is 30 seconds.</value>
    public TimeSpan Timeout { get; set; } = DefaultTimeout;

    /// <summary>Gets or sets the clock of <see cref="Timeout"/>.</summary>
    /// <value>The default is <see cref="TimeProvider.System"/>.</value>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Checks every setting.</summary>
    /// <returns>One line per broken rule, naming the setting and its value (for example
    /// "EnsureTopicOptions.Partitions must be at least 1, but was 0."); empty when valid.</returns>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Topic is not null && !KafkaTopicName.IsValid(Topic, out string? problem))
        {
            errors.Add($"{Name}.Topic '{Topic}' is not a legal Kafka topic name: {problem}.");
        }

        if (Partitions < 1)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{Name}.Partitions must be at least 1, but was {Partitions}."));
        }

        if (ReplicationFactor is < 1 or > short.MaxValue)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{Name}.ReplicationFactor must be null or from 1 to {short.MaxValue}, but was {ReplicationFactor}."));
        }

        foreach (KeyValuePair<string, string> config in Configs)
        {
            if (string.IsNullOrWhiteSpace(config.Key))
            {
                errors.Add($"{Name}.Configs must not have an empty name, but had one with the value '{config.Value}'.");
            }
            else if (config.Value is null)
            {
                errors.Add($"{Name}.Configs['{config.Key}'] must have a value, but was null.");
            }
        }

        if (!Enum.IsDefined(WhenExists))
        {
            errors.Add($"{Name}.WhenExists must be Verify or AlterConfigs, but was {WhenExists}.");
        }

        if (Timeout <= TimeSpan.Zero || Timeout.TotalMilliseconds > int.MaxValue)
        {
            errors.Add($"{Name}.Timeout must be greater than zero and at most {TimeSpan.FromMilliseconds(int.MaxValue)}, but was {Timeout}.");
        }

        if (TimeProvider is null)
        {
            errors.Add($"{Name}.TimeProvider must not be null.");
        }

        return errors;
    }

    internal EnsureTopicOptions Clone(string? defaultTopic = null)
    {
        var copy = (EnsureTopicOptions)MemberwiseClone();
        copy.Topic ??= defaultTopic;
        copy._configs = new Dictionary<string, string>(Configs, StringComparer.Ordinal);
        return copy;
    }
}
