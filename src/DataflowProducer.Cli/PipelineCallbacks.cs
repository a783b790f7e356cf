using DataflowProducer.Cli.Output;
using DataflowProducer.Cli.Verification;
using DataflowProducer.Kafka;

namespace DataflowProducer.Cli;

/// <summary>What the tool does with the records the pipeline hands back: a failed record is reported (the first
/// ones) and an abandoned one kept for <c>--abandoned-file</c>; either is taken out of what <c>--verify</c> expects.</summary>
/// <remarks>Called on the pipeline's threads, while the reader loop runs.</remarks>
internal sealed class PipelineCallbacks
{
    private const int MaxReportedFailures = 20;

    private readonly Reporter _reporter;
    private readonly ContentDigest? _sent;
    private readonly AbandonedRecordsWriter _abandoned;
    private long _reportedFailures;

    /// <summary>Initializes the callbacks.</summary>
    /// <param name="reporter">Where failed records are reported.</param>
    /// <param name="sent">What <c>--verify</c> expects, or null without it.</param>
    /// <param name="abandoned">Keeps the abandoned records.</param>
    public PipelineCallbacks(Reporter reporter, ContentDigest? sent, AbandonedRecordsWriter abandoned)
    {
        _reporter = reporter;
        _sent = sent;
        _abandoned = abandoned;
    }

    /// <summary>The callbacks, for the pipeline.</summary>
    /// <returns>Callbacks calling <see cref="OnFailed"/> and <see cref="OnAbandoned"/>.</returns>
    public BatchProducerCallbacks<KafkaRecord<byte[]?, byte[]>> ToCallbacks() => new() { ItemFailed = OnFailed, ItemsAbandoned = OnAbandoned };

    private void OnFailed(KafkaRecord<byte[]?, byte[]> record, Exception error)
    {
        _sent?.Remove(record.Key, record.Key is null, record.Value);
        long failures = Interlocked.Increment(ref _reportedFailures);
        if (failures <= MaxReportedFailures)
        {
            _reporter.Line($"record failed: {error.Message}");
        }
        else if (failures == MaxReportedFailures + 1)
        {
            _reporter.Line("(further failed records are counted, not shown)");
        }
    }

    private void OnAbandoned(IReadOnlyList<KafkaRecord<byte[]?, byte[]>> records, Exception reason)
    {
        foreach (KafkaRecord<byte[]?, byte[]> record in records)
        {
            _sent?.Remove(record.Key, record.Key is null, record.Value);
        }

        _abandoned.Keep(records);
    }
}
