using System.Threading.Tasks.Dataflow;
using System.Threading.Tasks.Sources;
using DataflowProducer.Testing;
using DataflowProducer.Tests.TestSupport;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using NSubstitute;

namespace DataflowProducer.Tests;

// Aborts (DESIGN 4.11, 4.12): Fault(), cancellation, a drain past DrainTimeout or a stuck sink stop the pipeline;
// every item it will never deliver is abandoned and handed back, and Completion says how many.
public partial class BatchProducerBlockTests
{
    [Test, CancelAfter(10_000)]
    public async Task Fault_ItemsInOpenBatch_AbandonedAndHandedBack(CancellationToken ct)
    {
        var sink = new ManualSink();
        var handBack = new HandBackRecorder();
        var block = CreateSut(sink.Sink, Options(batchSize: 10), handBack);
        PostAll(block, Enumerable.Range(0, 5));

        var reason = new InvalidOperationException("stop now");
        Fault(block, reason);
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(handBack.Abandoned, Is.EqualTo(Enumerable.Range(0, 5)));
            Assert.That(handBack.AbandonReasons, Is.All.SameAs(reason));
            Assert.That(ex.AbandonedItems, Is.EqualTo(Enumerable.Range(0, 5)));
            Assert.That(ex.InnerException, Is.SameAs(reason));
            Assert.That(ex.Message, Does.Contain("5 accepted").And.Contain("5 abandoned").And.Contain("stop now"));
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(5, 0, 0, 0, 5, 0) { NotSent = 5, Unknown = 0 }));
            Assert.That(sink.Batches, Is.Empty);
            Assert.That(block.Post(5), Is.False);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Fault_BatchesInFlightAndBuffered_EachUndeliveredItemHandedBackOnce(CancellationToken ct)
    {
        // Batch 0 delivered, batch 1 accepted but unacknowledged, batch 2 waiting for the window, 3 items open.
        var sink = new ManualSink();
        var handBack = new HandBackRecorder();
        var block = CreateSut(sink.Sink, Options(batchSize: 4, maxInFlightBatches: 1), handBack);
        PostAll(block, Enumerable.Range(0, 15));
        await sink.WaitForCallsAsync(1, ct);
        sink.Ack(0).SetResult(BatchResult.AllDelivered);
        await sink.WaitForCallsAsync(2, ct);

        Fault(block, new InvalidOperationException("stop"));
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        BatchProducerStatistics s = block.GetStatistics();
        Assert.Multiple(() =>
        {
            Assert.That(handBack.Abandoned, Is.EquivalentTo(Enumerable.Range(4, 11)));
            Assert.That(ex.AbandonedItems, Is.EquivalentTo(Enumerable.Range(4, 11)));
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(15, 2, 4, 0, 11, 0) { NotSent = 7, Unknown = 4 }));
            Assert.That(sink.Batches, Has.Count.EqualTo(2));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task CancellationToken_CanceledMidFlight_InFlightAndBufferedItemsAbandoned(CancellationToken ct)
    {
        using var cts = new CancellationTokenSource();
        var sink = new ManualSink();
        var handBack = new HandBackRecorder();
        var block = CreateSut(sink.Sink, Options(batchSize: 3, cancellationToken: cts.Token), handBack);
        PostAll(block, Enumerable.Range(0, 8));
        await sink.WaitForCallsAsync(2, ct);
        AssertRunningInvariant(block.GetStatistics());

        await cts.CancelAsync();
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        BatchProducerStatistics s = block.GetStatistics();
        Assert.Multiple(() =>
        {
            Assert.That(handBack.Abandoned, Is.EquivalentTo(Enumerable.Range(0, 8)));
            Assert.That(handBack.AbandonReasons, Is.All.InstanceOf<OperationCanceledException>());
            Assert.That(ex.InnerException, Is.InstanceOf<OperationCanceledException>());
            Assert.That(ex.Message, Does.Contain("8 accepted").And.Contain("8 abandoned"));
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(8, 2, 0, 0, 8, 0) { NotSent = 2, Unknown = 6 }));
            Assert.That(block.Post(8), Is.False);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task CancellationToken_CanceledAfterEverythingDelivered_CompletionCanceled(CancellationToken ct)
    {
        // Cancel only once the batch's outcome is recorded: its "acknowledged" log line is written after that.
        using var cts = new CancellationTokenSource();
        var acknowledged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var logger = new FakeLogger<BatchProducerBlock<int>>(FakeLogCollector.Create(new FakeLogCollectorOptions
        {
            OutputSink = line =>
            {
                if (line.Contains("acknowledged: 2 delivered", StringComparison.Ordinal))
                {
                    acknowledged.TrySetResult();
                }
            },
        }));
        var sink = new RecordingBatchSink<int>();
        var block = CreateSut(sink, Options(batchSize: 2, cancellationToken: cts.Token), logger: logger);
        PostAll(block, [1, 2]);
        await acknowledged.Task.WaitAsync(ct);

        await cts.CancelAsync();
        Exception? ex = await ExceptionOf(block.Completion, ct);

        Assert.Multiple(() =>
        {
            Assert.That(ex, Is.InstanceOf<OperationCanceledException>(), "nothing was lost: Canceled, not Faulted");
            Assert.That(block.Completion.IsCanceled, Is.True);
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(2, 1, 2, 0, 0, 0)));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task CancellationToken_AlreadyCanceled_DeclinesEverythingAndCompletionCanceled(CancellationToken ct)
    {
        var sink = new ManualSink();
        var block = CreateSut(sink.Sink, Options(cancellationToken: new CancellationToken(canceled: true)));

        Assert.That(block.Post(1), Is.False);
        Exception? ex = await ExceptionOf(block.Completion, ct);

        Assert.Multiple(() =>
        {
            Assert.That(ex, Is.InstanceOf<OperationCanceledException>());
            Assert.That(block.Completion.IsCanceled, Is.True);
            Assert.That(block.GetStatistics(), Is.EqualTo(default(BatchProducerStatistics)));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task DrainTimeout_AcknowledgementNeverCompletes_ItemsAbandonedAndHandedBack(CancellationToken ct)
    {
        var time = new FakeTimeProvider();
        var sink = new ManualSink();
        var handBack = new HandBackRecorder();
        var block = CreateSut(sink.Sink, Options(time, batchSize: 4), handBack);
        PostAll(block, Enumerable.Range(0, 10));
        await sink.WaitForCallsAsync(2, ct);
        sink.Ack(0).SetResult(BatchResult.AllDelivered);

        block.Complete();
        await sink.WaitForCallsAsync(3, ct);
        sink.Ack(2).SetResult(BatchResult.AllDelivered);
        time.Advance(DrainTimeout + TimeSpan.FromTicks(1));
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        // Batch 1 (items 4..7) never got its acknowledgement; batch 2's came before the timeout, so it counts.
        BatchProducerStatistics s = block.GetStatistics();
        Assert.Multiple(() =>
        {
            Assert.That(handBack.Abandoned, Is.EqualTo(new[] { 4, 5, 6, 7 }));
            Assert.That(ex.AbandonedItems, Is.EqualTo(new[] { 4, 5, 6, 7 }));
            Assert.That(ex.InnerException, Is.TypeOf<TimeoutException>());
            Assert.That(ex.Message, Does.Contain("10 accepted").And.Contain("6 delivered").And.Contain("4 abandoned"));
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(10, 3, 6, 0, 4, 0) { NotSent = 0, Unknown = 4 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task DrainTimeout_AcknowledgementNeverCompletesWithRecordingSink_FlushAbandonsUnacknowledged(CancellationToken ct)
    {
        var time = new FakeTimeProvider();
        var sink = new RecordingBatchSink<int> { AcknowledgeImmediately = false };
        var handBack = new HandBackRecorder();
        var block = CreateSut(sink, Options(time, batchSize: 5), handBack);
        PostAll(block, Enumerable.Range(0, 7));
        block.Complete();
        await sink.WaitForBatchesAsync(2, ct);
        Assert.That(sink.AcknowledgeNext(), Is.True);

        time.Advance(DrainTimeout + TimeSpan.FromTicks(1));
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(handBack.Abandoned, Is.EqualTo(new[] { 5, 6 }));
            Assert.That(ex.AbandonedItems, Is.EqualTo(new[] { 5, 6 }));
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(7, 2, 5, 0, 2, 0) { NotSent = 0, Unknown = 2 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task DrainTimeout_AcknowledgedBeforeTimeout_Succeeds(CancellationToken ct)
    {
        var time = new FakeTimeProvider();
        var sink = new ManualSink();
        var block = CreateSut(sink.Sink, Options(time, batchSize: 4));
        PostAll(block, Enumerable.Range(0, 3));
        block.Complete();
        await sink.WaitForCallsAsync(1, ct);

        time.Advance(DrainTimeout - TimeSpan.FromTicks(1));
        sink.Ack(0).SetResult(BatchResult.AllDelivered);
        await block.Completion.WaitAsync(ct);
        time.Advance(Hour);

        Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(3, 1, 3, 0, 0, 0)));
    }

    [Test, CancelAfter(10_000)]
    public async Task DrainTimeout_FlushIgnoresCancellationAndNeverReturns_CompletionStillFinishes(CancellationToken ct)
    {
        var time = new FakeTimeProvider();
        var sink = new ManualSink { AutoAcknowledge = static _ => BatchResult.AllDelivered };
        var flushing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // The drain's flush hangs; the abort's last zero-timeout flush returns at once, like a real client's.
        sink.Sink.FlushAsync(Arg.Is<TimeSpan>(t => t > TimeSpan.Zero), Arg.Any<CancellationToken>())
            .Returns(_ =>
            {
                flushing.TrySetResult();
                return new TaskCompletionSource().Task;
            });
        var block = CreateSut(sink.Sink, Options(time, batchSize: 4));
        PostAll(block, Enumerable.Range(0, 3));
        block.Complete();
        await flushing.Task.WaitAsync(ct);

        time.Advance(DrainTimeout + TimeSpan.FromTicks(1));
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(ex.InnerException, Is.TypeOf<TimeoutException>());
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(3, 1, 3, 0, 0, 0)));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task DisposeAsync_AcknowledgementNeverCompletes_ReturnsAfterDrainTimeoutWithItemsHandedBack(CancellationToken ct)
    {
        var time = new FakeTimeProvider();
        var sink = new ManualSink();
        var handBack = new HandBackRecorder();
        var block = CreateSut(sink.Sink, Options(time, batchSize: 4), handBack);
        PostAll(block, Enumerable.Range(0, 3));

        Task disposing = block.DisposeAsync().AsTask();
        await sink.WaitForCallsAsync(1, ct);
        time.Advance(DrainTimeout + TimeSpan.FromTicks(1));
        await disposing.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(block.Completion.IsFaulted, Is.True);
            Assert.That(handBack.Abandoned, Is.EqualTo(new[] { 0, 1, 2 }));
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(3, 1, 0, 0, 3, 0) { NotSent = 0, Unknown = 3 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Fault_SinkAcceptIgnoresCancellationAndNeverReturns_CompletionFinishesWithBatchAbandoned(CancellationToken ct)
    {
        var sink = Substitute.For<IBatchSink<int>>();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        SetupAccept(sink, _ => new ValueTask<Task<BatchResult>>(new TaskCompletionSource<Task<BatchResult>>().Task));
        WhenAccepting(sink, _ => entered.TrySetResult());
        var handBack = new HandBackRecorder();
        var block = CreateSut(sink, Options(batchSize: 3), handBack);
        PostAll(block, Enumerable.Range(0, 7));
        await entered.Task.WaitAsync(ct);

        Fault(block, new InvalidOperationException("give up"));
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(handBack.Abandoned, Is.EquivalentTo(Enumerable.Range(0, 7)));
            Assert.That(ex.AbandonedItems, Is.EquivalentTo(Enumerable.Range(0, 7)));
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(7, 1, 0, 0, 7, 0) { NotSent = 4, Unknown = 3 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Fault_WhileSinkIsReturningFromAccept_BatchIsStillAccountedFor(CancellationToken ct)
    {
        // Replays a race: the abort comes while AcceptAsync is still returning, and the batch's hand-over runs only
        // after the aborting pipeline closed its queue of pending batches. The flush it makes then completes the
        // accept, whose continuation (the hand-over) runs inline, before the pipeline settles what is left.
        var sink = Substitute.For<IBatchSink<int>>();
        var accepting = new AwaitedValueTaskSource<Task<BatchResult>>();
        SetupAccept(sink, _ => accepting.Task);
        sink.FlushAsync(Arg.Any<TimeSpan>(), Arg.Any<CancellationToken>()).Returns(_ =>
        {
            accepting.SetResult(Task.FromResult(BatchResult.AllDelivered));
            return Task.CompletedTask;
        });
        var block = CreateSut(sink, Options(batchSize: 3));
        PostAll(block, Enumerable.Range(0, 5));
        await accepting.Awaited.WaitAsync(ct);

        Fault(block, new InvalidOperationException("stop"));
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        BatchProducerStatistics s = block.GetStatistics();
        Assert.Multiple(() =>
        {
            AssertFinalInvariant(s);
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(5, 1, 3, 0, 2, 0) { NotSent = 2, Unknown = 0 }), "the sink acknowledged the batch: delivered");
            Assert.That(ex.AbandonedItems, Is.EquivalentTo(new[] { 3, 4 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Fault_WhilePostponedOfferIsBeingConsumed_ConsumedItemCountedAndHandedBack(CancellationToken ct)
    {
        var sink = new ManualSink();
        var block = CreateSut(sink.Sink, Options(batchSize: 10, boundedCapacity: 10));
        PostAll(block, Enumerable.Range(0, 10));
        await sink.WaitForCallsAsync(1, ct);
        var source = new ConsumeHookSource(42, () => Fault(block, new InvalidOperationException("stop")));

        DataflowMessageStatus offered = ((ITargetBlock<int>)block).OfferMessage(new DataflowMessageHeader(1), 42, source, consumeToAccept: false);
        Assert.That(offered, Is.EqualTo(DataflowMessageStatus.Postponed), "full");
        sink.Ack(0).SetResult(BatchResult.AllDelivered);
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(source.Consumed, Is.True, "the block took 42 from its source");
            Assert.That(ex.AbandonedItems, Does.Contain(42));
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(11, 1, 10, 0, 1, 0) { NotSent = 1, Unknown = 0 }));
        });
    }

    [TestCase("Fault")]
    [TestCase("Cancel")]
    [TestCase("SinkThrows")]
    [CancelAfter(10_000)]
    public async Task SendAsync_PipelineFullThenAborted_WaitingPostersGetFalse(string abort, CancellationToken ct)
    {
        using var cts = new CancellationTokenSource();
        var sink = Substitute.For<IBatchSink<int>>();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var fail = new TaskCompletionSource<Task<BatchResult>>(TaskCreationOptions.RunContinuationsAsynchronously);
        SetupAccept(sink, _ => new ValueTask<Task<BatchResult>>(fail.Task));
        WhenAccepting(sink, _ => entered.TrySetResult());
        var handBack = new HandBackRecorder();
        var block = CreateSut(sink, Options(batchSize: 10, boundedCapacity: 10, cancellationToken: cts.Token), handBack);
        PostAll(block, Enumerable.Range(0, 10));
        await entered.Task.WaitAsync(ct);
        Task<bool>[] waiting = [.. Enumerable.Range(10, 3).Select(i => block.SendAsync(i, ct))];
        Assert.That(waiting.Select(static t => t.IsCompleted), Is.All.False, "the pipeline is full");

        switch (abort)
        {
            case "Fault":
                Fault(block, new InvalidOperationException("stop"));
                break;
            case "Cancel":
                await cts.CancelAsync();
                break;
            default:
                fail.SetException(new InvalidOperationException("sink broken"));
                break;
        }

        bool[] results = await Task.WhenAll(waiting).WaitAsync(ct);
        await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(results, Is.All.False);
            Assert.That(handBack.Abandoned, Is.EquivalentTo(Enumerable.Range(0, 10)));
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(10, 1, 0, 0, 10, 0) { NotSent = 0, Unknown = 10 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Fault_AfterComplete_StillAbortsAStuckDrain(CancellationToken ct)
    {
        var sink = new ManualSink();
        var handBack = new HandBackRecorder();
        var block = CreateSut(sink.Sink, Options(batchSize: 4), handBack);
        PostAll(block, Enumerable.Range(0, 4));
        block.Complete();
        await sink.WaitForCallsAsync(1, ct);

        Fault(block, new InvalidOperationException("shutdown took too long"));
        await CompletionFault(block, ct);

        Assert.That(handBack.Abandoned, Is.EqualTo(new[] { 0, 1, 2, 3 }));
    }

    [Test, CancelAfter(10_000)]
    public async Task Fault_AfterCompletion_ChangesNothing(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int>();
        var block = CreateSut(sink);
        PostAll(block, [1]);
        block.Complete();
        await block.Completion.WaitAsync(ct);

        Fault(block, new InvalidOperationException("late"));

        Assert.Multiple(() =>
        {
            Assert.That(block.Completion.IsCompletedSuccessfully, Is.True);
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(1, 1, 1, 0, 0, 0)));
        });
    }

    [Test]
    public void Fault_NullException_Throws()
    {
        var block = CreateSut(new RecordingBatchSink<int>());

        Assert.That(() => ((IDataflowBlock)block).Fault(null!), Throws.ArgumentNullException);
    }

    /// <summary>A value-task source that reports when someone awaits it and, when completed, runs that continuation
    /// inline: the test knows the pipeline is waiting on it, and decides exactly when its continuation runs.</summary>
    private sealed class AwaitedValueTaskSource<TResult> : IValueTaskSource<TResult>
    {
        private readonly TaskCompletionSource _awaited = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private ManualResetValueTaskSourceCore<TResult> _core;

        public Task Awaited => _awaited.Task;

        public ValueTask<TResult> Task => new(this, _core.Version);

        public void SetResult(TResult result) => _core.SetResult(result);

        public TResult GetResult(short token) => _core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        {
            _core.OnCompleted(continuation, state, token, flags);
            _awaited.TrySetResult();
        }
    }
}
