using System.Threading.Tasks.Dataflow;

namespace DataflowProducer.Tests.Conformance;

// The deliberate differences from BatchBlock<T> listed in README.md ("Differences from BatchBlock<T>"), pinned against
// both blocks so the list cannot drift from what either block does.
public sealed class DocumentedDifferencesTests
{
    private const int Size = 2;

    // How long a target waits for a call it made on another thread. The runtime block holds its lock for the whole
    // offer round, so there the wait runs out; it only bounds the test.
    private static readonly TimeSpan OtherThreadWait = TimeSpan.FromMilliseconds(500);

    [TestCase(BlockUnderTest.Runtime, false)]
    [TestCase(BlockUnderTest.Linger, true)]
    [CancelAfter(10_000)]
    public async Task Fault_AfterCompleteWithABatchNotTaken_OnlyLingerBatchBlockHonoursIt(string kind, bool honoured, CancellationToken ct)
    {
        var sut = BlockUnderTest.Create(kind, Size);
        sut.PostAll(1, 2);
        sut.Target.Complete();

        sut.Block.Fault(new InvalidOperationException("stuck shutdown"));

        if (honoured)
        {
            await Assert.ThatAsync(() => sut.Completion.WaitAsync(ct), Throws.InvalidOperationException);
            Assert.That(((LingerBatchBlock<int>)sut.Block).DroppedItems, Is.EqualTo(new[] { 1, 2 }), "the dropped items are handed back");
        }
        else
        {
            Assert.That(sut.Source.TryReceive(out int[]? batch), Is.True, "the fault dropped the batch");
            Assert.That(batch, Is.EqualTo(new[] { 1, 2 }));
            await sut.Completion.WaitAsync(ct);
        }
    }

    [TestCase(BlockUnderTest.Runtime, false)]
    [TestCase(BlockUnderTest.Linger, true)]
    [CancelAfter(10_000)]
    public async Task LinkTo_Offer_LingerBatchBlockAsksTheTargetToConsume(string kind, bool consumeToAccept, CancellationToken ct)
    {
        var sut = BlockUnderTest.Create(kind, Size);
        var target = ProbeTarget.Accepting();
        sut.Source.LinkTo(target);

        sut.PostAll(1, 2);

        ProbeTarget.Offer offer = await target.Offers.ReceiveAsync(ct);
        Assert.Multiple(async () =>
        {
            Assert.That(offer.ConsumeToAccept, Is.EqualTo(consumeToAccept));
            Assert.That(await target.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 1, 2 }));
        });
    }

    [TestCase(BlockUnderTest.Runtime, false)]
    [TestCase(BlockUnderTest.Linger, true)]
    [CancelAfter(10_000)]
    public async Task ReleaseReservation_FromInsideOfferMessage_OnlyLingerBatchBlockOffersTheBatchAgain(string kind, bool reoffered, CancellationToken ct)
    {
        var sut = BlockUnderTest.Create(kind, Size);
        int offers = 0;
        var target = new ProbeTarget((self, offer) =>
        {
            if (Interlocked.Increment(ref offers) == 1 && offer.Source!.ReserveMessage(offer.Header, self))
            {
                offer.Source.ReleaseReservation(offer.Header, self);
                return DataflowMessageStatus.Postponed;
            }

            return self.Take(offer);
        });
        sut.Source.LinkTo(target);

        sut.PostAll(1, 2);
        await target.Offers.ReceiveAsync(ct);

        if (reoffered)
        {
            Assert.That(await target.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 1, 2 }));
        }
        else
        {
            // Rounds are serialized: once a second batch has been taken, the first was never offered again.
            Assert.That(sut.Source.TryReceive(out int[]? first), Is.True);
            sut.PostAll(3, 4);
            Assert.Multiple(async () =>
            {
                Assert.That(first, Is.EqualTo(new[] { 1, 2 }));
                Assert.That(await target.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 3, 4 }));
                Assert.That(target.OfferedIds, Has.Length.EqualTo(2));
            });
        }
    }

    [TestCase(BlockUnderTest.Runtime, false)]
    [TestCase(BlockUnderTest.Linger, true)]
    [CancelAfter(10_000)]
    public async Task LinkDispose_FromAnotherThreadWhileAnotherLinkIsOffered_OnlyLingerBatchBlockReturnsBeforeTheRoundEnds(string kind, bool returnsAtOnce, CancellationToken ct)
    {
        var sut = BlockUnderTest.Create(kind, Size);
        IDisposable? otherLink = null;
        bool returnedDuringOffer = false;
        var first = new ProbeTarget((self, offer) =>
        {
            Task dispose = Task.Run(() => Volatile.Read(ref otherLink)!.Dispose());
            Volatile.Write(ref returnedDuringOffer, dispose.Wait(OtherThreadWait));
            return self.Take(offer);
        });
        sut.Source.LinkTo(first);
        Volatile.Write(ref otherLink, sut.Source.LinkTo(new BufferBlock<int[]>()));

        sut.PostAll(1, 2);

        Assert.That(await first.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 1, 2 }));
        Assert.That(Volatile.Read(ref returnedDuringOffer), Is.EqualTo(returnsAtOnce));
    }

    [TestCase(BlockUnderTest.Runtime, true)]
    [TestCase(BlockUnderTest.Linger, false)]
    [CancelAfter(10_000)]
    public async Task LinkTo_FromAnotherThreadDuringARound_OnlyTheRuntimeOffersBeforeLinkToReturns(string kind, bool offeredInsideLinkTo, CancellationToken ct)
    {
        var sut = BlockUnderTest.Create(kind, Size);
        var late = ProbeTarget.Accepting();
        Task<bool>? link = null;
        var declining = new ProbeTarget((_, _) =>
        {
            // LinkTo on another thread while this offer (and so the round) is running.
            link ??= Task.Run(() =>
            {
                sut.Source.LinkTo(late);
                return late.Received.Count == 1;
            });
            link.Wait(OtherThreadWait);
            return DataflowMessageStatus.Declined;
        });
        sut.Source.LinkTo(declining);

        sut.PostAll(1, 2);

        Assert.That(await late.Received.OutputAvailableAsync(ct), Is.True, "the late target never got the batch");
        Assert.That(await link!.WaitAsync(ct), Is.EqualTo(offeredInsideLinkTo));
    }

    [TestCase(BlockUnderTest.Runtime, false, true)]
    [TestCase(BlockUnderTest.Linger, true, true)]
    [TestCase(BlockUnderTest.Runtime, false, false)]
    [TestCase(BlockUnderTest.Linger, true, false)]
    [CancelAfter(10_000)]
    public async Task Abort_WhileTheHeadIsReserved_OnlyLingerBatchBlockFinishesBeforeTheRelease(string kind, bool finishesAtOnce, bool fault, CancellationToken ct)
    {
        using var cancellation = new CancellationTokenSource();
        var sut = BlockUnderTest.CreateCanceledBy(kind, batchSize: 1, cancellation.Token);
        var reserving = ProbeTarget.ReservingTheFirstOffer();
        sut.PostAll(0);
        sut.Source.LinkTo(reserving);
        ProbeTarget.Offer reserved = await reserving.Offers.ReceiveAsync(ct);
        sut.PostAll(1);

        if (fault)
        {
            sut.Block.Fault(new InvalidOperationException("abort"));
        }
        else
        {
            await cancellation.CancelAsync();
        }

        Type expected = fault ? typeof(InvalidOperationException) : typeof(OperationCanceledException);
        if (finishesAtOnce)
        {
            // An abort never waits on a target: the batches' items are dropped and handed back while the reservation
            // is held, and the reserving target can no longer take them.
            await Assert.ThatAsync(() => sut.Completion.WaitAsync(ct), Throws.InstanceOf(expected));
            int[]? consumed = ((ISourceBlock<int[]>)sut.Source).ConsumeMessage(reserved.Header, reserving, out bool messageConsumed);
            Assert.Multiple(() =>
            {
                Assert.That(sut.OutputCount, Is.Zero);
                Assert.That(((LingerBatchBlock<int>)sut.Block).DroppedItems, Is.EqualTo(new[] { 0, 1 }));
                Assert.That(consumed, Is.Null);
                Assert.That(messageConsumed, Is.False, "a dropped batch was also consumed");
                Assert.That(() => reserved.Source!.ReleaseReservation(reserved.Header, reserving), Throws.Nothing);
            });
        }
        else
        {
            // The runtime keeps both batches until the reserving target lets go, and only then finishes.
            Assert.Multiple(() =>
            {
                Assert.That(sut.OutputCount, Is.EqualTo(2));
                Assert.That(sut.Completion.IsCompleted, Is.False);
            });
            reserved.Source!.ReleaseReservation(reserved.Header, reserving);
            await Assert.ThatAsync(() => sut.Completion.WaitAsync(ct), Throws.InstanceOf(expected));
        }
    }
}
