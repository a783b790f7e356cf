using System.Threading.Tasks.Dataflow;
using DataflowProducer.Testing;
using DataflowProducer.Tests.TestSupport;
using NSubstitute;

namespace DataflowProducer.Tests;

// Failed items (DESIGN 4.10): each reported exactly once with the original item and the error, counted, and the
// failure policy decides whether the pipeline goes on.
public partial class BatchProducerBlockTests
{
    [Test, CancelAfter(10_000)]
    public async Task ItemFailed_PartialFailure_ReportsEachFailedItemOnceWithItsError(CancellationToken ct)
    {
        var sink = new ManualSink();
        var handBack = new HandBackRecorder();
        var block = CreateSut(sink.Sink, Options(batchSize: 4), handBack);
        var tooBig = new InvalidOperationException("too big");
        var badKey = new ArgumentException("bad key");
        PostAll(block, [100, 101, 102, 103]);
        await sink.WaitForCallsAsync(1, ct);

        sink.Ack(0).SetResult(BatchResult.Create([new BatchItemError(1, tooBig), new BatchItemError(3, badKey)]));
        block.Complete();
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(handBack.Failed, Is.EqualTo(new[] { (101, (Exception)tooBig), (103, badKey) }));
            Assert.That(ex.FailedItems, Is.EqualTo(new[] { new KeyValuePair<int, Exception>(101, tooBig), new(103, badKey) }));
            Assert.That(ex.AbandonedItems, Is.Empty);
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(4, 1, 2, 2, 0, 0)));
            Assert.That(ex.Statistics, Is.EqualTo(block.GetStatistics()));
            Assert.That(ex.Message, Does.Contain("4 accepted").And.Contain("2 delivered").And.Contain("2 failed").And.Contain("0 abandoned"));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task ItemFailed_CallbackTakesSnapshot_RunningInvariantHolds(CancellationToken ct)
    {
        // The callback runs while the batch is being settled: its items must not count both as failed and in flight.
        var sink = new ManualSink { AutoAcknowledge = static b => BatchResult.Create([new BatchItemError(0, new InvalidOperationException())], [1]) };
        var handBack = new HandBackRecorder();
        var snapshots = new List<BatchProducerStatistics>();
        var block = CreateSut(sink.Sink, Options(batchSize: 3), handBack);
        handBack.OnItemFailed = (_, _) => snapshots.Add(block.GetStatistics());
        handBack.OnItemsAbandoned = _ => snapshots.Add(block.GetStatistics());
        PostAll(block, [1, 2, 3]);

        block.Complete();
        await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(snapshots, Has.Count.EqualTo(2));
            foreach (BatchProducerStatistics s in snapshots)
            {
                AssertRunningInvariant(s);
            }

            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(3, 1, 1, 1, 1, 0) { NotSent = 0, Unknown = 1 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Completion_ReportAndContinueWithFailures_OtherItemsDeliveredThenFaultedWithCounts(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int> { FailWhen = static i => i % 10 == 3 ? new InvalidOperationException($"item {i}") : null };
        var handBack = new HandBackRecorder();
        var block = CreateSut(sink, Options(batchSize: 7, failurePolicy: FailurePolicy.ReportAndContinue), handBack);
        PostAll(block, Enumerable.Range(0, 50));

        block.Complete();
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        int[] failing = [3, 13, 23, 33, 43];
        BatchProducerStatistics s = block.GetStatistics();
        Assert.Multiple(() =>
        {
            Assert.That(sink.Items, Is.EqualTo(Enumerable.Range(0, 50)), "every batch still reached the sink");
            Assert.That(handBack.Failed.Select(static f => f.Item), Is.EqualTo(failing));
            Assert.That(handBack.Failed.Select(static f => f.Error.Message), Is.EqualTo(failing.Select(static i => $"item {i}")));
            Assert.That(handBack.Abandoned, Is.Empty);
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(50, 8, 45, 5, 0, 0)));
            Assert.That(ex.Message, Does.Contain("50 accepted").And.Contain("45 delivered").And.Contain("5 failed"));
            Assert.That(ex.InnerException, Is.SameAs(handBack.Failed[0].Error), "the first failure is the cause");
            AssertFinalInvariant(s);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Completion_FaultPipelineOnFirstFailure_RestAbandonedAndHandedBack(CancellationToken ct)
    {
        var sink = new ManualSink();
        var handBack = new HandBackRecorder();
        var block = CreateSut(sink.Sink, Options(batchSize: 2, maxInFlightBatches: 1, failurePolicy: FailurePolicy.FaultPipeline), handBack);
        PostAll(block, Enumerable.Range(0, 10));
        await sink.WaitForCallsAsync(1, ct);

        var error = new InvalidOperationException("poison");
        sink.Ack(0).SetResult(BatchResult.Create([new BatchItemError(0, error)]));
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        BatchProducerStatistics s = block.GetStatistics();
        Assert.Multiple(() =>
        {
            Assert.That(sink.Batches, Has.Count.EqualTo(1), "no batch is handed to the sink after the failure");
            Assert.That(handBack.Failed, Is.EqualTo(new[] { (0, (Exception)error) }));
            Assert.That(handBack.Abandoned, Is.EquivalentTo(Enumerable.Range(2, 8)));
            Assert.That(ex.AbandonedItems, Is.EquivalentTo(Enumerable.Range(2, 8)));
            Assert.That(ex.FailedItems.Select(static f => f.Key), Is.EqualTo(new[] { 0 }));
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(10, 1, 1, 1, 8, 0) { NotSent = 8, Unknown = 0 }));
            Assert.That(ex.Message, Does.Contain("10 accepted").And.Contain("1 delivered").And.Contain("1 failed").And.Contain("8 abandoned"));
            Assert.That(block.Post(99), Is.False);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Completion_AcknowledgementFaults_EveryItemOfTheBatchFailsWithThatError(CancellationToken ct)
    {
        var sink = new ManualSink();
        var handBack = new HandBackRecorder();
        var block = CreateSut(sink.Sink, Options(batchSize: 3), handBack);
        PostAll(block, [1, 2, 3, 4]);
        block.Complete();
        await sink.WaitForCallsAsync(2, ct);

        var error = new IOException("connection lost");
        sink.Ack(0).SetException(error);
        sink.Ack(1).SetResult(BatchResult.AllDelivered);
        await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(handBack.Failed, Is.EqualTo(new[] { (1, (Exception)error), (2, error), (3, error) }));
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(4, 2, 1, 3, 0, 0)));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Completion_AcknowledgementWithNullResult_FailsTheBatchInsteadOfHanging(CancellationToken ct)
    {
        var sink = new ManualSink { AutoAcknowledge = static _ => null! };
        var handBack = new HandBackRecorder();
        var block = CreateSut(sink.Sink, Options(batchSize: 2), handBack);
        PostAll(block, [1, 2]);

        block.Complete();
        await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(handBack.Failed.Select(static f => f.Item), Is.EqualTo(new[] { 1, 2 }));
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(2, 1, 0, 2, 0, 0)));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task ItemFailed_CallbackThrows_PipelineGoesOn(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int> { FailWhen = static i => i == 0 ? new InvalidOperationException() : null };
        var callbacks = new BatchProducerCallbacks<int> { ItemFailed = static (_, _) => throw new InvalidOperationException("callback bug") };
        var block = new BatchProducerBlock<int>(sink, Options(batchSize: 2), callbacks);
        PostAll(block, [0, 1, 2, 3]);

        block.Complete();
        await CompletionFault(block, ct);

        Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(4, 2, 3, 1, 0, 0)));
    }

    [Test, CancelAfter(10_000)]
    public async Task Completion_SinkReportsOutOfRangeIndex_IgnoredSoCountsAgree(CancellationToken ct)
    {
        var sink = new ManualSink { AutoAcknowledge = static _ => BatchResult.Create([new BatchItemError(7, new InvalidOperationException())], [-1]) };
        var block = CreateSut(sink.Sink, Options(batchSize: 2));
        PostAll(block, [1, 2]);

        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(2, 1, 2, 0, 0, 0)));
    }

    [Test, CancelAfter(10_000)]
    public async Task AcceptAsync_Throws_AbortsAndHandsBackEveryItemWithCounts(CancellationToken ct)
    {
        var sink = Substitute.For<IBatchSink<int>>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var broken = new InvalidOperationException("sink broken");
        SetupAccept(sink, _ => ThrowAfter(gate.Task, broken));
        var handBack = new HandBackRecorder();
        var block = CreateSut(sink, Options(batchSize: 5), handBack);
        PostAll(block, Enumerable.Range(0, 12));

        gate.SetResult();
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        BatchProducerStatistics s = block.GetStatistics();
        Assert.Multiple(() =>
        {
            Assert.That(ex.AbandonedItems, Is.EquivalentTo(Enumerable.Range(0, 12)));
            Assert.That(handBack.Abandoned, Is.EquivalentTo(Enumerable.Range(0, 12)), "each item handed back exactly once");
            Assert.That(handBack.AbandonReasons, Has.Some.SameAs(broken));
            Assert.That(ex.InnerException, Is.SameAs(broken));
            Assert.That(ex.Message, Does.Contain("12 accepted").And.Contain("0 delivered").And.Contain("12 abandoned").And.Contain("sink broken"));
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(12, 1, 0, 0, 12, 0) { NotSent = 7, Unknown = 5 }));
            Assert.That(block.Post(12), Is.False);
        });
        AssertAcceptCalls(sink, 1);

        static async ValueTask<Task<BatchResult>> ThrowAfter(Task gate, Exception error)
        {
            await gate;
            throw error;
        }
    }

    [Test, CancelAfter(10_000)]
    public async Task AcceptAsync_ReturnsNullAcknowledgement_AbortsAndHandsBackTheBatch(CancellationToken ct)
    {
        var sink = Substitute.For<IBatchSink<int>>();
        SetupAccept(sink, _ => new ValueTask<Task<BatchResult>>((Task<BatchResult>)null!));
        var handBack = new HandBackRecorder();
        var block = CreateSut(sink, Options(batchSize: 2), handBack);
        PostAll(block, [1, 2]);

        block.Complete();
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(handBack.Abandoned, Is.EqualTo(new[] { 1, 2 }));
            Assert.That(ex.InnerException, Is.TypeOf<InvalidOperationException>());
            AssertFinalInvariant(block.GetStatistics());
        });
    }
}
