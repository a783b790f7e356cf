using System.Threading.Tasks.Dataflow;
using DataflowProducer.Tests.TestSupport;
using NSubstitute;

namespace DataflowProducer.Tests;

// Semantic 3 and the abort rules: Complete emits the open batch at once and is idempotent; Completion waits for every
// batch to be taken; Fault and cancellation drop what is held, hand it back, and are honoured until Completion ends.
public partial class LingerBatchBlockTests
{
    [Test]
    public void Complete_Empty_CompletesWithoutAnEmptyBatch()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);

        block.Complete();

        Assert.Multiple(() =>
        {
            Assert.That(block.OutputCount, Is.Zero);
            Assert.That(block.Completion.IsCompletedSuccessfully, Is.True);
        });
    }

    [Test]
    public void Complete_PartialBatchBeforeLinger_EmitsItAtOnce()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1, 2, 3);
        time.Advance(Ms);

        block.Complete();

        Assert.That(block.OutputCount, Is.EqualTo(1), "no waiting for the linger deadline");
        Assert.That(block.Completion.IsCompleted, Is.False, "not before the batch is taken");
        Assert.Multiple(() =>
        {
            Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1, 2, 3 } }));
            Assert.That(block.Completion.IsCompletedSuccessfully, Is.True);
        });
    }

    [Test]
    public void Complete_WhileTimerCallbackRuns_EmitsTheBatchOnceAndCompletes()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1, 2);

        // The timer came due and its callback is on its way when Complete() runs; the callback runs after.
        time.HoldCallbacks = true;
        time.Advance(Linger);
        block.Complete();
        Assert.That(() => time.Timer.RunHeldCallbacks(), Throws.Nothing);

        Assert.Multiple(() =>
        {
            Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1, 2 } }));
            Assert.That(block.Completion.IsCompletedSuccessfully, Is.True);
        });

        // A callback that is even later, after the timer was disposed, is harmless too.
        time.Advance(Linger);
        Assert.That(() => block.TriggerBatch(), Throws.Nothing);
        Assert.That(block.OutputCount, Is.Zero);
    }

    [Test]
    public void Complete_RightAfterTimerClosedTheBatch_EmitsNoSecondBatch()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1, 2);
        time.Advance(Linger);

        block.Complete();

        Assert.Multiple(() =>
        {
            Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1, 2 } }));
            Assert.That(block.Completion.IsCompletedSuccessfully, Is.True);
        });
    }

    [Test]
    public void Complete_Twice_SecondCallChangesNothing()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1);

        block.Complete();
        block.Complete();

        Assert.Multiple(() =>
        {
            Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1 } }));
            Assert.That(block.Completion.IsCompletedSuccessfully, Is.True);
        });
        Assert.That(() => block.Complete(), Throws.Nothing);
    }

    [Test]
    public void Post_AfterComplete_Declines()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1);
        block.Complete();

        Assert.That(block.Post(2), Is.False);
        Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1 } }));
    }

    [Test]
    public void Fault_AfterCompleteWithBatchNotYetTaken_FaultsAndDropsTheBatch()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1, 2);
        block.Complete();
        var boom = new InvalidOperationException("boom");

        Fault(block, boom);

        Assert.Multiple(() =>
        {
            Assert.That(block.Completion.IsFaulted, Is.True);
            Assert.That(block.Completion.Exception!.InnerException, Is.SameAs(boom));
            Assert.That(block.DroppedItems, Is.EqualTo(new[] { 1, 2 }));
            Assert.That(block.OutputCount, Is.Zero);
        });
    }

    [Test]
    public void Fault_AfterCompletionFinished_IsIgnored()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1);
        block.Complete();
        Assert.That(ReceiveAll(block), Has.Count.EqualTo(1));

        Fault(block, new InvalidOperationException("too late"));

        Assert.Multiple(() =>
        {
            Assert.That(block.Completion.IsCompletedSuccessfully, Is.True);
            Assert.That(block.DroppedItems, Is.Empty);
        });
    }

    [Test]
    public void Complete_AfterFault_StaysFaulted()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1);
        var boom = new InvalidOperationException("boom");
        Fault(block, boom);

        block.Complete();

        Assert.Multiple(() =>
        {
            Assert.That(block.Completion.IsFaulted, Is.True);
            Assert.That(block.Completion.Exception!.InnerException, Is.SameAs(boom));
            Assert.That(block.DroppedItems, Is.EqualTo(new[] { 1 }));
            Assert.That(block.OutputCount, Is.Zero, "Complete after Fault emits nothing");
            Assert.That(block.Post(2), Is.False);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Fault_WithItemsBuffered_DropsThemAndFaultsCompletionAndLinkedTarget(CancellationToken ct)
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        var target = new BufferBlock<int[]>();
        block.LinkTo(target, new DataflowLinkOptions { PropagateCompletion = true });
        PostAll(block, 1, 2, 3);
        var boom = new InvalidOperationException("boom");

        Fault(block, boom);

        await Assert.ThatAsync(() => block.Completion.WaitAsync(ct), Throws.Exception.SameAs(boom));
        await Assert.ThatAsync(() => target.Completion.WaitAsync(ct), Throws.Exception);
        Assert.Multiple(() =>
        {
            // As from a runtime block: the link passes the block's Completion.Exception, an AggregateException.
            Assert.That(target.Completion.Exception!.Flatten().InnerExceptions, Is.EqualTo(new[] { boom }));
            Assert.That(block.DroppedItems, Is.EqualTo(new[] { 1, 2, 3 }));
            Assert.That(target.Count, Is.Zero);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Cancel_WithItemsBuffered_CompletionCanceledAndDroppedItemsReported(CancellationToken ct)
    {
        var time = new RecordingTimeProvider();
        using var cts = new CancellationTokenSource();
        var block = new LingerBatchBlock<int>(new LingerBatchBlockOptions { BatchSize = Size, Linger = Linger, CancellationToken = cts.Token, TimeProvider = time });
        PostAll(block, 1, 2, 3, 4, 5, 6);

        await cts.CancelAsync();

        await Assert.ThatAsync(() => block.Completion.WaitAsync(ct), Throws.InstanceOf<OperationCanceledException>());
        Assert.Multiple(() =>
        {
            Assert.That(block.Completion.IsCanceled, Is.True);
            Assert.That(block.DroppedItems, Is.EqualTo(new[] { 1, 2, 3, 4, 5, 6 }), "the emitted batch and the open one");
            Assert.That(block.OutputCount, Is.Zero);
            Assert.That(block.Post(7), Is.False);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Completion_DecliningTarget_StaysPendingAndNothingIsLost(CancellationToken ct)
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        var offered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var target = Substitute.For<ITargetBlock<int[]>>();
        target.OfferMessage(Arg.Any<DataflowMessageHeader>(), Arg.Any<int[]>(), Arg.Any<ISourceBlock<int[]>?>(), Arg.Any<bool>())
            .Returns(_ =>
            {
                offered.TrySetResult();
                return DataflowMessageStatus.Declined;
            });
        block.LinkTo(target, new DataflowLinkOptions { PropagateCompletion = true });
        PostAll(block, 1, 2);

        block.Complete();
        await offered.Task.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(block.Completion.IsCompleted, Is.False);
            Assert.That(block.OutputCount, Is.EqualTo(1));
            target.DidNotReceive().Complete();
        });

        // The batch is still there for anyone who takes it; only then does the block complete.
        Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1, 2 } }));
        await block.Completion.WaitAsync(ct);
    }

    [Test, CancelAfter(10_000)]
    public async Task Fault_AfterCompleteWhileDecliningTargetHoldsFinalBatch_CompletionFaultsWithBatchDropped(CancellationToken ct)
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        var offered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var target = Substitute.For<ITargetBlock<int[]>>();
        target.OfferMessage(Arg.Any<DataflowMessageHeader>(), Arg.Any<int[]>(), Arg.Any<ISourceBlock<int[]>?>(), Arg.Any<bool>())
            .Returns(_ =>
            {
                offered.TrySetResult();
                return DataflowMessageStatus.Declined;
            });
        block.LinkTo(target, new DataflowLinkOptions { PropagateCompletion = true });
        PostAll(block, 1, 2, 3, 4, 5);
        block.Complete();
        await offered.Task.WaitAsync(ct);
        var boom = new TimeoutException("drain took too long");

        Fault(block, boom);

        await Assert.ThatAsync(() => block.Completion.WaitAsync(ct), Throws.Exception.SameAs(boom));
        Assert.That(block.DroppedItems, Is.EqualTo(new[] { 1, 2, 3, 4, 5 }));
    }

    [Test, CancelAfter(10_000)]
    public async Task Complete_LastBatchTakenByLinkedTarget_PropagatesCompletionOnlyAfterTheTargetsOfferReturns(CancellationToken ct)
    {
        // The seed bug, deterministically: the block finishes inside the target's ConsumeMessage call; completing the
        // target from there reaches it before it has stored the batch it is consuming.
        var time = new RecordingTimeProvider();
        var block = CreateSut(time, batchSize: 1_000);
        var target = new ReentrancyProbeTarget();
        block.LinkTo(target, new DataflowLinkOptions { PropagateCompletion = true });
        PostAll(block, 1, 2, 3);

        block.Complete();
        await target.Completion.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(target.CompletedDuringOffer, Is.False, "Complete() re-entered the target from inside its OfferMessage");
            Assert.That(target.ItemsWhenCompleted, Is.EqualTo(new[] { 1, 2, 3 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Fault_WhileAnOfferIsBeingConsumed_CompletionWaitsForItAndDroppedItemsIncludesIt(CancellationToken ct)
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1, 2);
        var boom = new InvalidOperationException("boom");
        bool completedInsideConsume = true;
        var source = new ConsumeHookSource(42, () =>
        {
            Fault(block, boom);
            completedInsideConsume = block.Completion.IsCompleted;
        });

        DataflowMessageStatus status = ((ITargetBlock<int>)block).OfferMessage(new DataflowMessageHeader(1), 42, source, consumeToAccept: true);

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(DataflowMessageStatus.Accepted), "the source gave the item up");
            Assert.That(completedInsideConsume, Is.False, "Completion must not finish while an item is being fetched");
            Assert.That(block.Completion.IsFaulted, Is.True);
            Assert.That(block.DroppedItems, Is.EqualTo(new[] { 1, 2, 42 }));
        });
        await Assert.ThatAsync(() => block.Completion.WaitAsync(ct), Throws.Exception.SameAs(boom));
    }

    [Test, CancelAfter(10_000)]
    public async Task OfferMessage_SourceConsumeThrows_ExceptionReachesCallerAndBlockStillCompletes(CancellationToken ct)
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time, batchSize: 2, boundedCapacity: 2);
        PostAll(block, 1);
        var source = new ConsumeHookSource(42, () => throw new InvalidOperationException("source broken"));

        Assert.That(
            () => ((ITargetBlock<int>)block).OfferMessage(new DataflowMessageHeader(1), 42, source, consumeToAccept: true),
            Throws.InvalidOperationException.With.Message.EqualTo("source broken"));

        Assert.That(block.Post(2), Is.True, "the room held for the failed consume is given back");
        block.Complete();
        Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1, 2 } }));
        await block.Completion.WaitAsync(ct);
    }

    // Like a real block, it takes its own lock for OfferMessage and Complete; Monitor is re-entrant, so a Complete()
    // made from inside OfferMessage on the same thread gets in and is seen.
    private sealed class ReentrancyProbeTarget : ITargetBlock<int[]>
    {
        private readonly Lock _gate = new();
        private readonly List<int> _items = [];
        private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private bool _inOffer;

        public bool CompletedDuringOffer { get; private set; }

        public int[] ItemsWhenCompleted { get; private set; } = [];

        public Task Completion => _completion.Task;

        public DataflowMessageStatus OfferMessage(DataflowMessageHeader messageHeader, int[] messageValue, ISourceBlock<int[]>? source, bool consumeToAccept)
        {
            lock (_gate)
            {
                _inOffer = true;
                try
                {
                    bool consumed = true;
                    int[]? batch = consumeToAccept ? source!.ConsumeMessage(messageHeader, this, out consumed) : messageValue;
                    if (batch is null || !consumed)
                    {
                        return DataflowMessageStatus.NotAvailable;
                    }

                    _items.AddRange(batch);
                    return DataflowMessageStatus.Accepted;
                }
                finally
                {
                    _inOffer = false;
                }
            }
        }

        public void Complete()
        {
            lock (_gate)
            {
                CompletedDuringOffer |= _inOffer;
                ItemsWhenCompleted = [.. _items];
            }

            _completion.TrySetResult();
        }

        public void Fault(Exception exception) => _completion.TrySetException(exception);
    }

    [Test]
    public void Complete_AfterLastBatchTaken_DisposesTheTimer()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1);
        block.Complete();
        Assert.That(time.Timer.DisposeCount, Is.Zero, "still needed until the last batch is taken");

        ReceiveAll(block);

        Assert.That(time.Timer.DisposeCount, Is.EqualTo(1));
    }

    [Test]
    public void Fault_WithItemsBuffered_DisposesTheTimer()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1);

        Fault(block, new InvalidOperationException("boom"));

        Assert.That(time.Timer.DisposeCount, Is.EqualTo(1));
    }
}
