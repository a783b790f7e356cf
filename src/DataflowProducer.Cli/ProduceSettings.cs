using DataflowProducer.Cli.Input;
using DataflowProducer.Cli.Kafka;

namespace DataflowProducer.Cli;

/// <summary>The parsed and validated options of <c>produce</c>.</summary>
internal sealed record ProduceSettings
{
    public required string Topic { get; init; }

    /// <summary>The input file, or "-" for standard input.</summary>
    public required string Input { get; init; }

    public required InputFormat Format { get; init; }

    public string? KeyField { get; init; }

    /// <summary>How many records to generate instead of reading input, or null.</summary>
    public long? Generate { get; init; }

    public required int Size { get; init; }

    /// <summary>The brokers, or null for the embedded mock cluster.</summary>
    public string? BootstrapServers { get; init; }

    public required ClientProperties ClientProperties { get; init; }

    /// <summary>Partitions of the embedded cluster's topic, or null to size them from the input.</summary>
    public int? Partitions { get; init; }

    /// <summary>The topic to ensure before producing (<c>--ensure-topic</c>), or null.</summary>
    public DataflowProducer.Kafka.EnsureTopicOptions? EnsureTopic { get; init; }

    public required bool Verify { get; init; }

    public required BatchProducerOptions Pipeline { get; init; }

    public required bool Quiet { get; init; }

    public required bool Json { get; init; }

    public required bool Strict { get; init; }

    public string? AbandonedFile { get; init; }

    public required bool ShowConfig { get; init; }
}
