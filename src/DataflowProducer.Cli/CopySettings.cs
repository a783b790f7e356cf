using DataflowProducer.Cli.Kafka;

namespace DataflowProducer.Cli;

/// <summary>The parsed and validated options of <c>copy</c>.</summary>
internal sealed record CopySettings
{
    public required string FromTopic { get; init; }

    public required string ToTopic { get; init; }

    /// <summary>The target topic to ensure before copying (<c>--ensure-topic</c>), or null.</summary>
    public DataflowProducer.Kafka.EnsureTopicOptions? EnsureTopic { get; init; }

    public required string Group { get; init; }

    public required string BootstrapServers { get; init; }

    public required ClientProperties ClientProperties { get; init; }

    /// <summary>True with <c>--follow</c>: copy until a signal; otherwise stop at the end of every partition.</summary>
    public required bool Follow { get; init; }

    public required BatchProducerOptions Pipeline { get; init; }

    public required bool Quiet { get; init; }

    public required bool Json { get; init; }

    public required bool ShowConfig { get; init; }
}
