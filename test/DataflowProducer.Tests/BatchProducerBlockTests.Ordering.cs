using System.Threading.Tasks.Dataflow;
using DataflowProducer.Testing;
using DataflowProducer.Tests.TestSupport;
using NSubstitute;

namespace DataflowProducer.Tests;

// Order and the in-flight window (DESIGN 4.7): batches reach the sink in order, at most MaxInFlightBatches are
// accepted-but-unacknowledged, and outcomes are reported in batch order whatever order acknowledgements come in.
public partial class BatchProducerBlockTests
{
    [Test, CancelAfter(10_000)]
    public async Task AcceptAsync_ManyBatches_CalledOncePerBatchInAcceptanceOrder(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int>();
        var block = CreateSut(sink, Options(batchSize: 3));
        PostAll(block, Enumerable.Range(0, 10));

        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            // The recording sink keeps one entry per AcceptAsync call: four batches, four calls.
            Assert.That(sink.Batches, Is.EqualTo(new[] { new[] { 0, 1, 2 }, [3, 4, 5], [6, 7, 8], [9] }));
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(10, 4, 10, 0, 0, 0)));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task AcceptAsync_MaxInFlightBatchesTwo_ThirdBatchWaitsForAnAcknowledgement(CancellationToken ct)
    {
        var sink = new ManualSink();
        var block = CreateSut(sink.Sink, Options(batchSize: 1, maxInFlightBatches: 2));
        PostAll(block, Enumerable.Range(0, 5));
        block.Complete();

        // Acknowledge one batch at a time, each only once the next batch has been handed over.
        await sink.WaitForCallsAsync(2, ct);
        for (int i = 0; i < 5; i++)
        {
            sink.Ack(i).SetResult(BatchResult.AllDelivered);
            await sink.WaitForCallsAsync(Math.Min(i + 3, 5), ct);
        }

        await block.Completion.WaitAsync(ct);

        // Each call records how many earlier acknowledgements were still pending: with a window of 2, never 2 or more.
        Assert.Multiple(() =>
        {
            Assert.That(sink.UnacknowledgedAtAccept, Is.EqualTo(new[] { 0, 1, 1, 1, 1 }));
            Assert.That(sink.Items, Is.EqualTo(Enumerable.Range(0, 5)));
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(5, 5, 5, 0, 0, 0)));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task GetStatistics_WindowFullOfUnacknowledgedBatches_CountsThemInFlight(CancellationToken ct)
    {
        var sink = new ManualSink();
        var block = CreateSut(sink.Sink, Options(batchSize: 2, maxInFlightBatches: 2));
        PostAll(block, Enumerable.Range(0, 7));
        await sink.WaitForCallsAsync(2, ct);

        BatchProducerStatistics running = block.GetStatistics();
        Assert.Multiple(() =>
        {
            Assert.That(running.InFlight, Is.EqualTo(4));
            Assert.That(running.Accepted, Is.EqualTo(7));
            AssertRunningInvariant(running);
        });

        block.Complete();
        for (int i = 0; i < 4; i++)
        {
            await sink.WaitForCallsAsync(i + 1, ct);
            sink.Ack(i).SetResult(BatchResult.AllDelivered);
        }

        await block.Completion.WaitAsync(ct);
        Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(7, 4, 7, 0, 0, 0)));
    }

    [Test, CancelAfter(10_000)]
    public async Task ItemFailed_SecondBatchAcknowledgedFirst_ReportsFirstBatchFirst(CancellationToken ct)
    {
        var sink = new ManualSink();
        var handBack = new HandBackRecorder();
        var secondReported = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var block = CreateSut(sink.Sink, Options(batchSize: 2, maxInFlightBatches: 2), handBack);
        PostAll(block, [10, 11, 20, 21]);
        await sink.WaitForCallsAsync(2, ct);

        var first = new InvalidOperationException("first batch");
        var second = new InvalidOperationException("second batch");
        sink.Ack(1).SetResult(BatchResult.Create([new BatchItemError(0, second)]));
        sink.Ack(0).SetResult(BatchResult.Create([new BatchItemError(1, first)]));
        block.Complete();
        await CompletionFault(block, ct);

        Assert.That(handBack.Failed, Is.EqualTo(new[] { (11, (Exception)first), (20, second) }));
    }

    [Test, CancelAfter(10_000)]
    public async Task ItemFailed_SecondBatchAcknowledgedFirst_NothingReportedBeforeFirstBatch(CancellationToken ct)
    {
        // The reporter waits for batch 1 while batch 2's result is already known: a snapshot taken in batch 1's
        // callback must not yet count batch 2's failure.
        var sink = new ManualSink();
        var handBack = new HandBackRecorder();
        var block = CreateSut(sink.Sink, Options(batchSize: 1, maxInFlightBatches: 2), handBack);
        var failedAtFirstCallback = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        handBack.OnItemFailed = (item, _) =>
        {
            if (item == 1)
            {
                failedAtFirstCallback.TrySetResult(block.GetStatistics().Failed);
            }
        };
        PostAll(block, [1, 2]);
        await sink.WaitForCallsAsync(2, ct);

        sink.Ack(1).SetResult(BatchResult.Create([new BatchItemError(0, new InvalidOperationException("2"))]));
        sink.Ack(0).SetResult(BatchResult.Create([new BatchItemError(0, new InvalidOperationException("1"))]));

        Assert.That(await failedAtFirstCallback.Task.WaitAsync(ct), Is.EqualTo(1));
        block.Complete();
        BatchProducerException<int> ex = await CompletionFault(block, ct);
        Assert.That(ex.FailedItems.Select(static f => f.Key), Is.EqualTo(new[] { 1, 2 }));
    }
}
