using System.Threading.Tasks.Dataflow;
using NSubstitute;

namespace DataflowProducer.Tests;

// The source side of the dataflow protocol: links, receiving, reservations.
public partial class LingerBatchBlockTests
{
    [Test]
    public void TryReceive_BatchesWaiting_ReturnsThemOneByOneInOrder()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1, 2, 3, 4, 5, 6, 7, 8);

        Assert.Multiple(() =>
        {
            Assert.That(block.TryReceive(out int[]? first), Is.True);
            Assert.That(first, Is.EqualTo(new[] { 1, 2, 3, 4 }));
            Assert.That(block.OutputCount, Is.EqualTo(1));
            Assert.That(block.TryReceive(out int[]? second), Is.True);
            Assert.That(second, Is.EqualTo(new[] { 5, 6, 7, 8 }));
            Assert.That(block.TryReceive(out _), Is.False);
        });
    }

    [Test]
    public void TryReceive_FilterRejectsHead_ReturnsFalseAndKeepsTheBatch()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1, 2, 3, 4);

        Assert.Multiple(() =>
        {
            Assert.That(block.TryReceive(b => b.Length == 1, out _), Is.False);
            Assert.That(block.TryReceive(b => b.Length == 4, out int[]? batch), Is.True);
            Assert.That(batch, Is.EqualTo(new[] { 1, 2, 3, 4 }));
        });
    }

    [Test]
    public void TryReceiveAll_BatchesWaiting_ReturnsAllInOrderAndEmpties()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1, 2, 3, 4, 5, 6, 7, 8, 9);
        block.Complete();

        Assert.Multiple(() =>
        {
            Assert.That(block.TryReceiveAll(out IList<int[]>? batches), Is.True);
            Assert.That(batches, Is.EqualTo(new[] { new[] { 1, 2, 3, 4 }, new[] { 5, 6, 7, 8 }, new[] { 9 } }));
            Assert.That(block.TryReceiveAll(out _), Is.False);
            Assert.That(block.Completion.IsCompletedSuccessfully, Is.True);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task LinkTo_MaxMessagesOne_OnlyTheFirstBatchGoesToTheTarget(CancellationToken ct)
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1, 2, 3, 4, 5, 6, 7, 8);
        var target = new BufferBlock<int[]>();

        block.LinkTo(target, new DataflowLinkOptions { MaxMessages = 1 });

        Assert.That(await target.ReceiveAsync(ct), Is.EqualTo(new[] { 1, 2, 3, 4 }));
        PostAll(block, 9, 10, 11, 12);
        Assert.Multiple(() =>
        {
            Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 5, 6, 7, 8 }, new[] { 9, 10, 11, 12 } }));
            Assert.That(target.Count, Is.Zero);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task LinkTo_MaxMessagesOneWithPostponingTarget_OnlyTheFirstBatchGoesToTheTarget(CancellationToken ct)
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        var target = new BatchBlock<int[]>(1, new GroupingDataflowBlockOptions { Greedy = false });
        block.LinkTo(target, new DataflowLinkOptions { MaxMessages = 1 });

        PostAll(block, 1, 2, 3, 4);
        Assert.That(await target.ReceiveAsync(ct), Is.EqualTo(new[] { new[] { 1, 2, 3, 4 } }));
        PostAll(block, 5, 6, 7, 8);
        block.Complete();

        // The link is gone after one message, however the target took it, so the second batch stays here.
        Assert.Multiple(() =>
        {
            Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 5, 6, 7, 8 } }));
            Assert.That(target.OutputCount, Is.Zero);
        });
        await block.Completion.WaitAsync(ct);
    }

    [Test, CancelAfter(10_000)]
    public async Task ReserveMessage_NonGreedyTarget_ReservesAndConsumesEachBatchInOrder(CancellationToken ct)
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        var target = new BatchBlock<int[]>(1, new GroupingDataflowBlockOptions { Greedy = false });
        block.LinkTo(target, new DataflowLinkOptions { PropagateCompletion = true });

        // A non-greedy target postpones every offer, then reserves and consumes it.
        PostAll(block, 1, 2, 3, 4, 5, 6, 7, 8, 9);
        block.Complete();

        var received = new List<int[]>();
        for (int i = 0; i < 3; i++)
        {
            received.AddRange(await target.ReceiveAsync(ct));
        }

        Assert.That(received, Is.EqualTo(new[] { new[] { 1, 2, 3, 4 }, new[] { 5, 6, 7, 8 }, new[] { 9 } }));
        await block.Completion.WaitAsync(ct);
        await target.Completion.WaitAsync(ct);
    }

    [Test, CancelAfter(10_000)]
    public async Task ReserveMessage_PostponingTarget_HoldsTheBatchUntilReleasedThenOffersItAgain(CancellationToken ct)
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        var offers = new BlockingQueue();
        var target = Substitute.For<ITargetBlock<int[]>>();
        target.OfferMessage(Arg.Any<DataflowMessageHeader>(), Arg.Any<int[]>(), Arg.Any<ISourceBlock<int[]>?>(), Arg.Any<bool>())
            .Returns(call =>
            {
                offers.Add((call.ArgAt<DataflowMessageHeader>(0), call.ArgAt<ISourceBlock<int[]>?>(2)!));
                return DataflowMessageStatus.Postponed;
            });
        block.LinkTo(target);
        PostAll(block, 1, 2, 3, 4);

        var (header, source) = await offers.TakeAsync(ct);
        ITargetBlock<int[]> other = new BufferBlock<int[]>();
        Assert.Multiple(() =>
        {
            Assert.That(source, Is.SameAs(block));
            Assert.That(source.ReserveMessage(header, target), Is.True);
            Assert.That(block.TryReceive(out _), Is.False, "reserved: not receivable");
            Assert.That(source.ReserveMessage(header, other), Is.False, "already reserved");
            Assert.That(source.ConsumeMessage(header, other, out bool consumedByOther), Is.Null);
            Assert.That(consumedByOther, Is.False);
        });

        source.ReleaseReservation(header, target);
        var (again, _) = await offers.TakeAsync(ct);
        Assert.That(again, Is.EqualTo(header), "released: the same batch is offered again");

        Assert.That(source.ReserveMessage(again, target), Is.True);
        int[]? batch = source.ConsumeMessage(again, target, out bool consumed);
        Assert.Multiple(() =>
        {
            Assert.That(consumed, Is.True);
            Assert.That(batch, Is.EqualTo(new[] { 1, 2, 3, 4 }));
            Assert.That(block.OutputCount, Is.Zero);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task ReleaseReservation_WhileTheOfferIsStillRunning_OffersTheBatchAgain(CancellationToken ct)
    {
        // A target that reserves and releases from inside OfferMessage, as a non-greedy target may, while the
        // block's offer loop has not yet decided that nobody took the batch: the release must not be lost.
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        var reoffered = new TaskCompletionSource<int[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        int offers = 0;
        var target = Substitute.For<ITargetBlock<int[]>>();
        target.OfferMessage(Arg.Any<DataflowMessageHeader>(), Arg.Any<int[]>(), Arg.Any<ISourceBlock<int[]>?>(), Arg.Any<bool>())
            .Returns(call =>
            {
                var header = call.ArgAt<DataflowMessageHeader>(0);
                var source = call.ArgAt<ISourceBlock<int[]>?>(2)!;
                if (Interlocked.Increment(ref offers) == 1)
                {
                    if (source.ReserveMessage(header, target))
                    {
                        source.ReleaseReservation(header, target);
                    }
                }
                else
                {
                    reoffered.TrySetResult(call.ArgAt<int[]>(1));
                }

                return DataflowMessageStatus.Postponed;
            });
        block.LinkTo(target);

        PostAll(block, 1, 2, 3, 4);

        Assert.That(await reoffered.Task.WaitAsync(ct), Is.EqualTo(new[] { 1, 2, 3, 4 }));
    }

    [Test, CancelAfter(10_000)]
    public async Task LinkTo_WhileTheHeadIsBeingOffered_NewTargetGetsTheBatch(CancellationToken ct)
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        var late = new BufferBlock<int[]>();
        int offers = 0;
        var declining = Substitute.For<ITargetBlock<int[]>>();
        declining.OfferMessage(Arg.Any<DataflowMessageHeader>(), Arg.Any<int[]>(), Arg.Any<ISourceBlock<int[]>?>(), Arg.Any<bool>())
            .Returns(_ =>
            {
                if (Interlocked.Increment(ref offers) == 1)
                {
                    // Linked while the offer loop holds a snapshot of the links without it.
                    block.LinkTo(late);
                }

                return DataflowMessageStatus.Declined;
            });
        block.LinkTo(declining);

        PostAll(block, 1, 2, 3, 4);

        Assert.That(await late.ReceiveAsync(ct), Is.EqualTo(new[] { 1, 2, 3, 4 }));
    }

    [Test]
    public void ReleaseReservation_NotReserved_ThrowsInvalidOperationException()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1, 2, 3, 4);
        ISourceBlock<int[]> source = block;

        Assert.That(() => source.ReleaseReservation(new DataflowMessageHeader(1), new BufferBlock<int[]>()), Throws.InvalidOperationException);
    }

    [Test, CancelAfter(10_000)]
    public async Task LinkTo_AfterCompletion_PropagatesCompletionToTheNewTarget(CancellationToken ct)
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        block.Complete();
        var target = new BufferBlock<int[]>();

        block.LinkTo(target, new DataflowLinkOptions { PropagateCompletion = true });

        await target.Completion.WaitAsync(ct);
        Assert.That(target.Count, Is.Zero);
    }

    private sealed class BlockingQueue
    {
        private readonly BufferBlock<(DataflowMessageHeader Header, ISourceBlock<int[]> Source)> _items = new();

        public void Add((DataflowMessageHeader Header, ISourceBlock<int[]> Source) item) => _items.Post(item);

        public Task<(DataflowMessageHeader Header, ISourceBlock<int[]> Source)> TakeAsync(CancellationToken ct) => _items.ReceiveAsync(ct);
    }
}
