using System.Threading.Tasks.Dataflow;
using DataflowProducer.Testing;
using DataflowProducer.Tests.TestSupport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace DataflowProducer.Tests;

// Logs (DESIGN 5): stable EventIds, drain start/end with counts at Information, each failed item once at Warning,
// abandoned items at Error.
public partial class BatchProducerBlockTests
{
    private const int BatchAcceptedId = 1001;
    private const int BatchAcknowledgedId = 1002;
    private const int ItemFailedId = 1003;
    private const int DrainStartedId = 1005;
    private const int DrainCompletedId = 1006;
    private const int ItemsAbandonedId = 1007;
    private const int PipelineAbortedId = 1010;

    private static FakeLogRecord[] Records(FakeLogger logger, int eventId) =>
        [.. logger.Collector.GetSnapshot().Where(r => r.Id.Id == eventId)];

    [Test, CancelAfter(10_000)]
    public async Task Complete_CleanDrain_LogsDrainStartAndEndWithCounts(CancellationToken ct)
    {
        var logger = new FakeLogger<BatchProducerBlock<int>>();
        var sink = new RecordingBatchSink<int>();
        var block = CreateSut(sink, Options(batchSize: 4), logger: logger);
        PostAll(block, Enumerable.Range(0, 10));
        await sink.WaitForBatchesAsync(2, ct);

        block.Complete();
        block.Complete();
        await block.Completion.WaitAsync(ct);

        FakeLogRecord[] started = Records(logger, DrainStartedId);
        FakeLogRecord[] completed = Records(logger, DrainCompletedId);
        Assert.Multiple(() =>
        {
            Assert.That(started, Has.Length.EqualTo(1), "Complete twice drains once");
            Assert.That(started[0].Level, Is.EqualTo(LogLevel.Information));
            Assert.That(started[0].GetStructuredStateValue("Accepted"), Is.EqualTo("10"));
            Assert.That(started[0].GetStructuredStateValue("DrainTimeout"), Is.EqualTo(DrainTimeout.ToString()));
            Assert.That(completed, Has.Length.EqualTo(1));
            Assert.That(completed[0].Level, Is.EqualTo(LogLevel.Information));
            Assert.That(completed[0].GetStructuredStateValue("Accepted"), Is.EqualTo("10"));
            Assert.That(completed[0].GetStructuredStateValue("Delivered"), Is.EqualTo("10"));
            Assert.That(completed[0].GetStructuredStateValue("Failed"), Is.EqualTo("0"));
            Assert.That(completed[0].GetStructuredStateValue("Abandoned"), Is.EqualTo("0"));
            Assert.That(completed[0].GetStructuredStateValue("Batches"), Is.EqualTo("3"));
            Assert.That(completed[0].Message, Does.Contain("10 accepted, 10 delivered"));
            Assert.That(Records(logger, BatchAcceptedId), Has.Length.EqualTo(3).And.All.Property(nameof(FakeLogRecord.Level)).EqualTo(LogLevel.Debug));
            Assert.That(Records(logger, BatchAcknowledgedId), Has.Length.EqualTo(3).And.All.Property(nameof(FakeLogRecord.Level)).EqualTo(LogLevel.Debug));
            Assert.That(Records(logger, ItemsAbandonedId), Is.Empty);
            Assert.That(Records(logger, PipelineAbortedId), Is.Empty);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task ItemFailed_PartialFailures_LogsWarningOncePerFailedItem(CancellationToken ct)
    {
        var logger = new FakeLogger<BatchProducerBlock<int>>();
        var sink = new RecordingBatchSink<int> { FailWhen = static i => i % 3 == 0 ? new InvalidOperationException($"item {i}") : null };
        var block = CreateSut(sink, Options(batchSize: 4), logger: logger);
        PostAll(block, Enumerable.Range(0, 10));

        block.Complete();
        await CompletionFault(block, ct);

        FakeLogRecord[] failed = Records(logger, ItemFailedId);
        Assert.Multiple(() =>
        {
            Assert.That(failed, Has.Length.EqualTo(4));
            Assert.That(failed.Select(static r => r.Level), Is.All.EqualTo(LogLevel.Warning));
            Assert.That(failed.Select(static r => r.Exception?.Message), Is.EqualTo(new[] { "item 0", "item 3", "item 6", "item 9" }));
            Assert.That(Records(logger, DrainCompletedId).Single().GetStructuredStateValue("Failed"), Is.EqualTo("4"));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task DrainTimeout_Passed_LogsAbortAndAbandonedItemsWithCounts(CancellationToken ct)
    {
        var logger = new FakeLogger<BatchProducerBlock<int>>();
        var time = new FakeTimeProvider();
        var sink = new ManualSink();
        var block = CreateSut(sink.Sink, Options(time, batchSize: 5), logger: logger);
        PostAll(block, Enumerable.Range(0, 7));
        block.Complete();
        await sink.WaitForCallsAsync(2, ct);

        time.Advance(DrainTimeout - TimeSpan.FromTicks(1));
        Assert.That(Records(logger, PipelineAbortedId), Is.Empty, "not before the drain timeout");
        time.Advance(TimeSpan.FromTicks(2));
        await CompletionFault(block, ct);

        FakeLogRecord[] abandoned = Records(logger, ItemsAbandonedId);
        FakeLogRecord completed = Records(logger, DrainCompletedId).Single();
        Assert.Multiple(() =>
        {
            Assert.That(Records(logger, PipelineAbortedId), Has.Length.EqualTo(1));
            Assert.That(abandoned.Select(static r => r.Level), Is.All.EqualTo(LogLevel.Error));
            Assert.That(abandoned.Sum(static r => int.Parse(r.GetStructuredStateValue("Count")!, System.Globalization.CultureInfo.InvariantCulture)), Is.EqualTo(7));
            Assert.That(completed.GetStructuredStateValue("Abandoned"), Is.EqualTo("7"));
            Assert.That(completed.GetStructuredStateValue("Delivered"), Is.EqualTo("0"));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Report_ResultIndexOutsideTheBatch_LoggedAndIgnored(CancellationToken ct)
    {
        // A sink result naming index 5 of a 5-item batch failed, and -1 abandoned: both are logged, neither counted.
        var logger = new FakeLogger<BatchProducerBlock<int>>();
        using var sink = new TestSupport.HostileSink(TestSupport.HostileAccept.IndexOutOfRange);
        var block = CreateSut(sink, Options(batchSize: 5), logger: logger);
        PostAll(block, Enumerable.Range(0, 5));
        block.Complete();
        await block.Completion.WaitAsync(ct);

        FakeLogRecord[] outOfRange = Records(logger, 1011);
        Assert.Multiple(() =>
        {
            Assert.That(outOfRange.Select(static r => r.GetStructuredStateValue("Index")), Is.EquivalentTo(new[] { "5", "-1" }));
            Assert.That(outOfRange.Select(static r => r.Level), Is.All.EqualTo(LogLevel.Warning));
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(5, 1, 5, 0, 0, 0)));
        });
    }
}
