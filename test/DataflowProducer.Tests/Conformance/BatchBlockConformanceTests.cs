using System.Threading.Tasks.Dataflow;

namespace DataflowProducer.Tests.Conformance;

// The same dataflow-protocol scenarios against the runtime's BatchBlock<T> (the oracle) and LingerBatchBlock<T> in
// count-only mode (DESIGN.md §4.19): a case that passes for one kind and fails for the other is a difference. The
// deliberate differences are listed in README.md ("Differences from BatchBlock<T>") and are not scenarios here.
//
// Nothing here sleeps. Where the oracle is asynchronous (its offer loop runs on the thread pool), a scenario awaits
// what it expects with the test's CancelAfter token; "X never happens" is checked after a later event that both
// blocks can only produce after X would have happened (offer rounds are serialized in both).
[TestFixtureSource(nameof(Kinds))]
public sealed partial class BatchBlockConformanceTests(string kind)
{
    public static readonly string[] Kinds = [BlockUnderTest.Runtime, BlockUnderTest.Linger];

    private const int Size = 2;

    // How long a target that waits for a concurrent Dispose gives it. The oracle holds its lock for the whole offer
    // round, so there this wait always runs out; it only bounds the test.
    private static readonly TimeSpan DisposeWait = TimeSpan.FromMilliseconds(500);

    public enum ProtocolCall
    {
        OfferMessage,
        ConsumeMessage,
        ReserveMessage,
        ReleaseReservation,
    }

    private BlockUnderTest CreateSut(int batchSize = Size, int boundedCapacity = DataflowBlockOptions.Unbounded) =>
        BlockUnderTest.Create(kind, batchSize, boundedCapacity);

    // The block's own token (GroupingDataflowBlockOptions / LingerBatchBlockOptions.CancellationToken), not the test's.
    private BlockUnderTest CreateSutCanceledBy(CancellationToken blockToken, int batchSize = Size) =>
        BlockUnderTest.CreateCanceledBy(kind, batchSize, blockToken);

    // ---- Message headers ------------------------------------------------------------------------------------------

    [TestCase(ProtocolCall.OfferMessage, false)]
    [TestCase(ProtocolCall.ConsumeMessage, false)]
    [TestCase(ProtocolCall.ConsumeMessage, true)]
    [TestCase(ProtocolCall.ReserveMessage, false)]
    [TestCase(ProtocolCall.ReserveMessage, true)]
    [TestCase(ProtocolCall.ReleaseReservation, false)]
    [TestCase(ProtocolCall.ReleaseReservation, true)]
    public void ProtocolCall_InvalidHeader_ThrowsArgumentExceptionBeforeCheckingTheTarget(ProtocolCall call, bool nullTarget)
    {
        var sut = CreateSut();
        sut.PostAll(1, 2);
        ITargetBlock<int[]>? target = nullTarget ? null : new BufferBlock<int[]>();

        Assert.That(() => Invoke(sut, call, default, target), Throws.ArgumentException.With.Property(nameof(ArgumentException.ParamName)).EqualTo("messageHeader"));
    }

    [TestCase(ProtocolCall.ConsumeMessage)]
    [TestCase(ProtocolCall.ReserveMessage)]
    [TestCase(ProtocolCall.ReleaseReservation)]
    public void ProtocolCall_ValidHeaderNullTarget_ThrowsArgumentNullException(ProtocolCall call)
    {
        var sut = CreateSut();
        sut.PostAll(1, 2);

        Assert.That(() => Invoke(sut, call, new DataflowMessageHeader(1), null), Throws.ArgumentNullException);
    }

    [Test]
    public void OfferMessage_ConsumeToAcceptWithoutSource_ThrowsArgumentException()
    {
        var sut = CreateSut();

        Assert.That(() => sut.Target.OfferMessage(new DataflowMessageHeader(1), 1, null, consumeToAccept: true), Throws.ArgumentException.With.Property(nameof(ArgumentException.ParamName)).EqualTo("consumeToAccept"));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void OfferMessage_InvalidHeaderWithASource_ThrowsArgumentException(bool consumeToAccept)
    {
        var sut = CreateSut();

        Assert.That(() => sut.Target.OfferMessage(default, 1, new BufferBlock<int>(), consumeToAccept), Throws.ArgumentException.With.Property(nameof(ArgumentException.ParamName)).EqualTo("messageHeader"));
    }

    [Test]
    public void LinkTo_NullTargetOrOptions_ThrowsArgumentNullException()
    {
        var sut = CreateSut();

        Assert.Multiple(() =>
        {
            Assert.That(() => sut.Source.LinkTo(null!, new DataflowLinkOptions()), Throws.ArgumentNullException);
            Assert.That(() => sut.Source.LinkTo(new BufferBlock<int[]>(), null!), Throws.ArgumentNullException);
            Assert.That(() => sut.Source.LinkTo(null!, null!), Throws.ArgumentNullException);
        });
    }

    [Test]
    public void OfferMessage_WithoutSource_AcceptsEachItemAndBatchesThem()
    {
        var sut = CreateSut();

        for (int i = 1; i <= 2 * Size; i++)
        {
            Assert.That(sut.Target.OfferMessage(new DataflowMessageHeader(i), i, null, consumeToAccept: false), Is.EqualTo(DataflowMessageStatus.Accepted), $"offer {i}");
        }

        Assert.Multiple(() =>
        {
            Assert.That(sut.Source.TryReceiveAll(out IList<int[]>? batches), Is.True);
            Assert.That(batches, Is.EqualTo(new[] { new[] { 1, 2 }, new[] { 3, 4 } }));
        });
    }

    [Test]
    public void OfferMessage_ConsumeToAcceptButTheSourceNoLongerHasIt_ReturnsNotAvailableAndTakesNothing()
    {
        var sut = CreateSut();

        DataflowMessageStatus status = sut.Target.OfferMessage(new DataflowMessageHeader(1), 1, ScriptedSource.Gone(), consumeToAccept: true);

        // The item never arrived, so it takes no place in the batch: two more fill it.
        sut.PostAll(2, 3);
        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(DataflowMessageStatus.NotAvailable));
            Assert.That(sut.Source.TryReceive(out int[]? batch), Is.True);
            Assert.That(batch, Is.EqualTo(new[] { 2, 3 }));
        });
    }

    [Test]
    public void OfferMessage_ConsumeToAcceptWithASourceThatThrows_ExceptionReachesTheCallerAndTheBlockGoesOn()
    {
        var sut = CreateSut();
        var boom = new InvalidOperationException("boom");
        var throwing = new ScriptedSource(_ => throw boom);

        Assert.That(() => sut.Target.OfferMessage(new DataflowMessageHeader(1), 1, throwing, consumeToAccept: true), Throws.Exception.SameAs(boom));
        sut.PostAll(2, 3);
        Assert.Multiple(() =>
        {
            Assert.That(sut.Completion.IsCompleted, Is.False);
            Assert.That(sut.Source.TryReceive(out int[]? batch), Is.True);
            Assert.That(batch, Is.EqualTo(new[] { 2, 3 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task LinkTo_FromASourceHoldingItems_EveryItemIsTakenInOrder(CancellationToken ct)
    {
        var sut = CreateSut();
        var source = new BufferBlock<int>();
        foreach (int item in new[] { 1, 2, 3, 4 })
        {
            Assert.That(source.Post(item), Is.True);
        }

        source.LinkTo(sut.Target);
        source.Complete();

        await source.Completion.WaitAsync(ct);
        Assert.Multiple(() =>
        {
            Assert.That(sut.Source.TryReceiveAll(out IList<int[]>? batches), Is.True);
            Assert.That(batches, Is.EqualTo(new[] { new[] { 1, 2 }, new[] { 3, 4 } }));
        });
    }

    [TestCase(false)]
    [TestCase(true)]
    public void OfferMessage_AfterComplete_DeclinesPermanently(bool consumeToAccept)
    {
        var sut = CreateSut();
        sut.Target.Complete();
        var source = new BufferBlock<int>();

        Assert.Multiple(() =>
        {
            Assert.That(sut.Target.OfferMessage(new DataflowMessageHeader(1), 1, source, consumeToAccept), Is.EqualTo(DataflowMessageStatus.DecliningPermanently));
            Assert.That(sut.Target.Post(2), Is.False);
        });
    }

    // ---- Reservations -------------------------------------------------------------------------------------------

    [Test, CancelAfter(10_000)]
    public async Task ReserveMessage_ReservedByA_BIsBlockedUntilAReleases(CancellationToken ct)
    {
        var sut = CreateSut();
        sut.PostAll(1, 2);
        DataflowMessageHeader header = await HeadHeaderAsync(sut, ct);
        ITargetBlock<int[]> a = new BufferBlock<int[]>();
        ITargetBlock<int[]> b = new BufferBlock<int[]>();
        ISourceBlock<int[]> source = sut.Source;

        Assert.That(source.ReserveMessage(header, a), Is.True);
        Assert.Multiple(() =>
        {
            Assert.That(source.ConsumeMessage(header, b, out bool consumedByB), Is.Null);
            Assert.That(consumedByB, Is.False, "B consumed a batch reserved by A");
            Assert.That(source.ReserveMessage(header, b), Is.False, "B reserved a batch reserved by A");
            Assert.That(sut.Source.TryReceive(out _), Is.False, "received a reserved batch");
            Assert.That(sut.Source.TryReceiveAll(out _), Is.False, "received all with the head reserved");
            Assert.That(() => source.ReleaseReservation(header, b), Throws.InvalidOperationException, "B released A's reservation");
        });

        source.ReleaseReservation(header, a);
        int[]? batch = source.ConsumeMessage(header, b, out bool consumed);

        Assert.Multiple(() =>
        {
            Assert.That(consumed, Is.True);
            Assert.That(batch, Is.EqualTo(new[] { 1, 2 }));
            Assert.That(sut.OutputCount, Is.Zero);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task ConsumeMessage_WithReservation_TakesTheBatchAndFreesTheHead(CancellationToken ct)
    {
        var sut = CreateSut();
        sut.PostAll(1, 2, 3, 4);
        DataflowMessageHeader header = await HeadHeaderAsync(sut, ct);
        ITargetBlock<int[]> a = new BufferBlock<int[]>();
        ISourceBlock<int[]> source = sut.Source;

        Assert.That(source.ReserveMessage(header, a), Is.True);
        int[]? batch = source.ConsumeMessage(header, a, out bool consumed);

        Assert.Multiple(() =>
        {
            Assert.That(consumed, Is.True);
            Assert.That(batch, Is.EqualTo(new[] { 1, 2 }));
            Assert.That(source.ConsumeMessage(header, a, out bool again), Is.Null);
            Assert.That(again, Is.False, "consumed the same header twice");
            Assert.That(sut.Source.TryReceive(out int[]? next), Is.True, "the next batch is not reserved");
            Assert.That(next, Is.EqualTo(new[] { 3, 4 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task ReserveMessage_HeaderOtherThanTheHeads_ReturnsFalseBeforeAndDuringAReservation(CancellationToken ct)
    {
        var sut = CreateSut();
        sut.PostAll(1, 2);
        DataflowMessageHeader header = await HeadHeaderAsync(sut, ct);
        ITargetBlock<int[]> a = new BufferBlock<int[]>();
        ISourceBlock<int[]> source = sut.Source;
        var other = new DataflowMessageHeader(-99);

        Assert.Multiple(() =>
        {
            Assert.That(source.ReserveMessage(other, a), Is.False, "reserved a header that is not the head's");
            Assert.That(source.ReserveMessage(header, a), Is.True);
            Assert.That(source.ReserveMessage(other, a), Is.False, "reserved another header while holding a reservation");
            Assert.That(() => source.ReleaseReservation(other, a), Throws.InvalidOperationException, "released a header it had not reserved");
        });

        source.ReleaseReservation(header, a);
        Assert.That(sut.Source.TryReceive(out int[]? batch), Is.True, "the release did not free the head");
        Assert.That(batch, Is.EqualTo(new[] { 1, 2 }));
    }

    [Test, CancelAfter(10_000)]
    public async Task ConsumeMessage_HeaderOtherThanTheHeads_ConsumesNothingWithOrWithoutAReservation(CancellationToken ct)
    {
        var sut = CreateSut();
        sut.PostAll(1, 2);
        ITargetBlock<int[]> a = new BufferBlock<int[]>();
        ISourceBlock<int[]> source = sut.Source;
        var other = new DataflowMessageHeader(-99);

        Assert.That(source.ConsumeMessage(other, a, out bool unreserved), Is.Null);
        DataflowMessageHeader header = await HeadHeaderAsync(sut, ct);
        Assert.That(source.ReserveMessage(header, a), Is.True);
        Assert.That(source.ConsumeMessage(other, a, out bool reserved), Is.Null);
        int[]? batch = source.ConsumeMessage(header, a, out bool consumed);

        Assert.Multiple(() =>
        {
            Assert.That(unreserved, Is.False, "consumed an unknown header");
            Assert.That(reserved, Is.False, "the reserving target consumed a header other than the one it reserved");
            Assert.That(consumed, Is.True);
            Assert.That(batch, Is.EqualTo(new[] { 1, 2 }));
        });
    }

    [Test]
    public void ReserveMessage_NothingHeld_ReturnsFalse()
    {
        var sut = CreateSut();
        sut.PostAll(1);

        Assert.That(((ISourceBlock<int[]>)sut.Source).ReserveMessage(new DataflowMessageHeader(1), new BufferBlock<int[]>()), Is.False);
    }

    // ---- Offering: LinkTo -----------------------------------------------------------------------------------------

    [Test]
    public void LinkTo_BlockHoldsABatch_TargetReceivesItInsideLinkTo()
    {
        var sut = CreateSut();
        sut.PostAll(1, 2);
        var target = new BufferBlock<int[]>();

        using IDisposable link = sut.Source.LinkTo(target);

        Assert.Multiple(() =>
        {
            Assert.That(target.TryReceive(out int[]? batch), Is.True, "the batch was not offered synchronously");
            Assert.That(batch, Is.EqualTo(new[] { 1, 2 }));
            Assert.That(sut.OutputCount, Is.Zero);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task OutputAvailableAsync_BlockHoldsABatch_IsAlreadyCompletedWithTrue(CancellationToken ct)
    {
        var sut = CreateSut();
        sut.PostAll(1, 2);

        Task<bool> available = sut.Source.OutputAvailableAsync(ct);

        Assert.That(available.IsCompleted, Is.True, "not completed inside OutputAvailableAsync");
        Assert.Multiple(async () =>
        {
            Assert.That(await available, Is.True);
            Assert.That(sut.OutputCount, Is.EqualTo(1), "OutputAvailableAsync took the batch");
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task OutputAvailableAsync_BatchClosesLater_CompletesWithTrue(CancellationToken ct)
    {
        var sut = CreateSut();
        sut.PostAll(1);
        Task<bool> available = sut.Source.OutputAvailableAsync(ct);
        Assert.That(available.IsCompleted, Is.False, "an open batch is not output");

        sut.TriggerBatch();

        Assert.That(await available.WaitAsync(ct), Is.True);
    }

    [Test, CancelAfter(10_000)]
    public async Task OutputAvailableAsync_AfterCompletion_ReturnsFalse(CancellationToken ct)
    {
        var sut = CreateSut();
        sut.Target.Complete();
        await sut.Completion.WaitAsync(ct);

        Assert.That(await sut.Source.OutputAvailableAsync(ct), Is.False);
    }

    [Test, CancelAfter(10_000)]
    public async Task OutputAvailableAsync_CompletedWhileWaiting_ReturnsFalse(CancellationToken ct)
    {
        var sut = CreateSut();
        Task<bool> available = sut.Source.OutputAvailableAsync(ct);

        sut.Target.Complete();

        Assert.That(await available.WaitAsync(ct), Is.False);
    }

    [Test, CancelAfter(10_000)]
    public async Task LinkTo_HeadAlreadyDeclinedByEveryTarget_OnlyTheNewTargetIsOffered(CancellationToken ct)
    {
        var sut = CreateSut();
        var declining = ProbeTarget.Declining();
        sut.Source.LinkTo(declining);
        sut.PostAll(1, 2);
        await declining.Offers.ReceiveAsync(ct);
        var late = ProbeTarget.Accepting();

        sut.Source.LinkTo(late);

        Assert.That(await late.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 1, 2 }));
        sut.PostAll(3, 4);
        Assert.That(await late.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 3, 4 }));
        Assert.That(declining.OfferedIds, Has.Length.EqualTo(2), "the declining target was offered the first batch again");
    }

    [Test, CancelAfter(10_000)]
    public async Task LinkTo_AppendFalse_NewTargetIsOfferedFirst(CancellationToken ct)
    {
        var sut = CreateSut();
        var first = ProbeTarget.Accepting();
        var prepended = ProbeTarget.Accepting();
        sut.Source.LinkTo(first);
        sut.Source.LinkTo(prepended, new DataflowLinkOptions { Append = false });

        sut.PostAll(1, 2);

        Assert.Multiple(async () =>
        {
            Assert.That(await prepended.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 1, 2 }));
            Assert.That(first.OfferedIds, Is.Empty);
        });
    }

    [Test]
    public void LinkTo_TargetThrowsFromTheFirstOffer_ThrowsOutOfLinkToAndTheBlockGoesOn()
    {
        var sut = CreateSut();
        sut.PostAll(1, 2);
        var boom = new InvalidOperationException("boom");
        int offers = 0;
        var throwing = new ProbeTarget((_, _) => Interlocked.Increment(ref offers) == 1 ? throw boom : DataflowMessageStatus.Declined);

        Assert.That(() => sut.Source.LinkTo(throwing), Throws.Exception.SameAs(boom));
        Assert.Multiple(() =>
        {
            Assert.That(sut.Completion.IsCompleted, Is.False);
            Assert.That(sut.Source.TryReceive(out int[]? batch), Is.True);
            Assert.That(batch, Is.EqualTo(new[] { 1, 2 }));
        });
    }

    // ---- Offering: rounds ---------------------------------------------------------------------------------------

    [Test, CancelAfter(10_000)]
    public async Task OfferMessage_TargetReservesInsideOffer_NextTargetIsNotOffered(CancellationToken ct)
    {
        var sut = CreateSut();
        int reserves = 0;
        var reserving = new ProbeTarget((self, offer) =>
        {
            if (Interlocked.Increment(ref reserves) == 1)
            {
                Assert.That(offer.Source!.ReserveMessage(offer.Header, self), Is.True);
            }

            return DataflowMessageStatus.Postponed;
        });
        var next = ProbeTarget.Accepting();
        sut.Source.LinkTo(reserving);
        sut.Source.LinkTo(next);

        sut.PostAll(1, 2);
        ProbeTarget.Offer reserved = await reserving.Offers.ReceiveAsync(ct);
        int[]? batch = reserved.Source!.ConsumeMessage(reserved.Header, reserving, out bool consumed);
        sut.PostAll(3, 4);

        Assert.Multiple(async () =>
        {
            Assert.That(consumed, Is.True);
            Assert.That(batch, Is.EqualTo(new[] { 1, 2 }));
            Assert.That(await next.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 3, 4 }));
            Assert.That(next.OfferedIds, Does.Not.Contain(reserved.Header.Id), "the reserved batch was offered to the next target");
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task OfferMessage_SeveralLinksOneTargetTwice_EachBatchIsOfferedLinkByLinkInLinkOrder(CancellationToken ct)
    {
        var sut = CreateSut();
        var order = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var first = new ProbeTarget((_, _) =>
        {
            order.Enqueue("first");
            return DataflowMessageStatus.Declined;
        });
        var second = new ProbeTarget((_, _) =>
        {
            order.Enqueue("second");
            return DataflowMessageStatus.Declined;
        });
        var last = new ProbeTarget((self, offer) =>
        {
            order.Enqueue("last");
            return self.Take(offer);
        });
        sut.Source.LinkTo(first);
        sut.Source.LinkTo(second);
        sut.Source.LinkTo(first);
        sut.Source.LinkTo(last);

        sut.PostAll(1, 2);
        Assert.That(await last.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 1, 2 }));
        sut.PostAll(3, 4);
        Assert.That(await last.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 3, 4 }));

        string[] round = ["first", "second", "first", "last"];
        Assert.That(order, Is.EqualTo(round.Concat(round)));
    }

    [Test, CancelAfter(10_000)]
    public async Task OfferMessage_TargetDecliningPermanently_IsUnlinkedAndTheNextTargetGetsTheBatches(CancellationToken ct)
    {
        var sut = CreateSut();
        var leaving = new ProbeTarget(static (_, _) => DataflowMessageStatus.DecliningPermanently);
        var staying = ProbeTarget.Accepting();
        sut.Source.LinkTo(leaving);
        sut.Source.LinkTo(staying);

        sut.PostAll(1, 2, 3, 4);

        Assert.Multiple(async () =>
        {
            Assert.That(await staying.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 1, 2 }));
            Assert.That(await staying.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 3, 4 }));
            Assert.That(leaving.OfferedIds, Has.Length.EqualTo(1));
        });
    }

    // ---- Offering: unlinking ------------------------------------------------------------------------------------

    [Test, CancelAfter(10_000)]
    public async Task LinkDispose_InsideItsOwnOffer_TargetIsNeverOfferedAgain(CancellationToken ct)
    {
        var sut = CreateSut();
        IDisposable? ownLink = null;
        var leaving = new ProbeTarget((_, _) =>
        {
            Volatile.Read(ref ownLink)!.Dispose();
            return DataflowMessageStatus.Declined;
        });
        Volatile.Write(ref ownLink, sut.Source.LinkTo(leaving));
        sut.PostAll(1, 2);
        await leaving.Offers.ReceiveAsync(ct);
        var staying = ProbeTarget.Accepting();

        sut.Source.LinkTo(staying);
        sut.PostAll(3, 4);

        Assert.Multiple(async () =>
        {
            Assert.That(await staying.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 1, 2 }));
            Assert.That(await staying.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 3, 4 }));
            Assert.That(leaving.OfferedIds, Has.Length.EqualTo(1));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task LinkDispose_DuringAnOfferToAnotherTarget_DisposedTargetIsNotOfferedAfterDisposeReturns(CancellationToken ct)
    {
        var sut = CreateSut();
        IDisposable? victimLink = null;
        Task? dispose = null;
        bool disposed = false;
        int offersAfterDispose = 0;

        // The first target disposes the second one's link from another thread while its own offer is running.
        var first = new ProbeTarget((_, _) =>
        {
            if (dispose is null)
            {
                dispose = Task.Run(() =>
                {
                    Volatile.Read(ref victimLink)!.Dispose();
                    Volatile.Write(ref disposed, true);
                });
                dispose.Wait(DisposeWait);
            }

            return DataflowMessageStatus.Declined;
        });
        var victim = new ProbeTarget((self, offer) =>
        {
            if (Volatile.Read(ref disposed))
            {
                Interlocked.Increment(ref offersAfterDispose);
            }

            return self.Take(offer);
        });
        var last = ProbeTarget.Accepting();
        sut.Source.LinkTo(first);
        Volatile.Write(ref victimLink, sut.Source.LinkTo(victim));
        sut.Source.LinkTo(last);

        sut.PostAll(1, 2);
        await first.Offers.ReceiveAsync(ct);

        // The round is over once someone took the batch: the victim (offered before Dispose returned) or the last.
        int[] taken = await Task.WhenAny(victim.Received.ReceiveAsync(ct), last.Received.ReceiveAsync(ct)).Unwrap();
        await dispose!.WaitAsync(ct);
        Assert.Multiple(() =>
        {
            Assert.That(taken, Is.EqualTo(new[] { 1, 2 }));
            Assert.That(Volatile.Read(ref offersAfterDispose), Is.Zero, "offered to a target after its link's Dispose returned");
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task LinkDispose_DuringAnOfferToItsTarget_TargetDoesNotTakeTheBatchAfterDisposeReturns(CancellationToken ct)
    {
        var sut = CreateSut();
        IDisposable? ownLink = null;
        Task? dispose = null;
        bool disposed = false;
        bool tookAfterDispose = false;

        // The target disposes its own link from another thread and then takes the batch it is being offered.
        var target = new ProbeTarget((self, offer) =>
        {
            dispose = Task.Run(() =>
            {
                Volatile.Read(ref ownLink)!.Dispose();
                Volatile.Write(ref disposed, true);
            });
            dispose.Wait(DisposeWait);
            Volatile.Write(ref tookAfterDispose, Volatile.Read(ref disposed));
            return self.Take(offer);
        });
        Volatile.Write(ref ownLink, sut.Source.LinkTo(target));

        sut.PostAll(1, 2);

        Assert.That(await target.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 1, 2 }));
        await dispose!.WaitAsync(ct);
        sut.PostAll(3, 4);
        Assert.Multiple(() =>
        {
            Assert.That(Volatile.Read(ref tookAfterDispose), Is.False, "the target took the batch after its link's Dispose returned");
            Assert.That(target.OfferedIds, Has.Length.EqualTo(1));
            Assert.That(sut.OutputCount, Is.EqualTo(1));
        });
    }

    // ---- Offering: link options ---------------------------------------------------------------------------------

    [Test, CancelAfter(10_000)]
    public async Task LinkTo_MaxMessagesOne_UnlinksAfterOneBatch(CancellationToken ct)
    {
        var sut = CreateSut();
        var once = ProbeTarget.Accepting();
        var rest = ProbeTarget.Accepting();
        sut.Source.LinkTo(once, new DataflowLinkOptions { MaxMessages = 1 });
        sut.Source.LinkTo(rest);

        sut.PostAll(1, 2, 3, 4, 5, 6);

        Assert.Multiple(async () =>
        {
            Assert.That(await once.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 1, 2 }));
            Assert.That(await rest.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 3, 4 }));
            Assert.That(await rest.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 5, 6 }));
            Assert.That(once.OfferedIds, Has.Length.EqualTo(1));
        });
    }

    [TestCase(true)]
    [TestCase(false)]
    [CancelAfter(10_000)]
    public async Task LinkTo_MaxMessagesOneEach_BatchesGoOneToEachTargetInLinkOrder(bool append, CancellationToken ct)
    {
        var sut = CreateSut(batchSize: 1);
        var a = ProbeTarget.Accepting();
        var b = ProbeTarget.Accepting();
        sut.Source.LinkTo(a, new DataflowLinkOptions { MaxMessages = 1, Append = append });
        sut.Source.LinkTo(b, new DataflowLinkOptions { MaxMessages = 1, Append = append });

        sut.PostAll(1, 2);
        sut.Target.Complete();

        (ProbeTarget firstInOrder, ProbeTarget secondInOrder) = append ? (a, b) : (b, a);
        Assert.That(await firstInOrder.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 1 }));
        Assert.That(await secondInOrder.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 2 }));
        await sut.Completion.WaitAsync(ct);
        Assert.Multiple(() =>
        {
            Assert.That(a.OfferedIds, Has.Length.EqualTo(1));
            Assert.That(b.OfferedIds, Has.Length.EqualTo(1));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task LinkTo_MaxMessagesOneWithPostponingTarget_ConsumingLaterCountsAgainstTheLink(CancellationToken ct)
    {
        var sut = CreateSut();
        var postponing = ProbeTarget.Postponing();
        sut.Source.LinkTo(postponing, new DataflowLinkOptions { MaxMessages = 1 });
        sut.PostAll(1, 2, 3, 4);
        ProbeTarget.Offer offer = await postponing.Offers.ReceiveAsync(ct);

        int[]? batch = offer.Source!.ConsumeMessage(offer.Header, postponing, out bool consumed);
        var rest = ProbeTarget.Accepting();
        sut.Source.LinkTo(rest);

        Assert.Multiple(async () =>
        {
            Assert.That(consumed, Is.True);
            Assert.That(batch, Is.EqualTo(new[] { 1, 2 }));
            Assert.That(await rest.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 3, 4 }));
            Assert.That(postponing.OfferedIds, Has.Length.EqualTo(1), "offered again after its only message");
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task LinkTo_WithPredicate_RoutesEachBatchByThePredicate(CancellationToken ct)
    {
        var sut = CreateSut(batchSize: 1);
        var even = new BufferBlock<int[]>();
        var odd = new BufferBlock<int[]>();
        sut.Source.LinkTo(even, new DataflowLinkOptions(), b => b[0] % 2 == 0);
        sut.Source.LinkTo(odd);

        sut.PostAll(1, 2, 3, 4);

        Assert.Multiple(async () =>
        {
            Assert.That(await odd.ReceiveAsync(ct), Is.EqualTo(new[] { 1 }));
            Assert.That(await even.ReceiveAsync(ct), Is.EqualTo(new[] { 2 }));
            Assert.That(await odd.ReceiveAsync(ct), Is.EqualTo(new[] { 3 }));
            Assert.That(await even.ReceiveAsync(ct), Is.EqualTo(new[] { 4 }));
        });
    }

    [Test]
    public void LinkTo_PredicateRejectsTheHead_BatchStaysReceivable()
    {
        var sut = CreateSut();
        sut.PostAll(1, 2);
        var target = new BufferBlock<int[]>();

        sut.Source.LinkTo(target, new DataflowLinkOptions(), static _ => false);

        Assert.Multiple(() =>
        {
            Assert.That(target.Count, Is.Zero);
            Assert.That(sut.Source.TryReceive(out int[]? batch), Is.True);
            Assert.That(batch, Is.EqualTo(new[] { 1, 2 }));
        });
    }

    // ---- Receiving ----------------------------------------------------------------------------------------------

    [Test]
    public void TryReceive_BatchesWaiting_ReturnsThemInOrder()
    {
        var sut = CreateSut();
        sut.PostAll(1, 2, 3, 4, 5);

        Assert.Multiple(() =>
        {
            Assert.That(sut.OutputCount, Is.EqualTo(2));
            Assert.That(sut.Source.TryReceive(out int[]? first), Is.True);
            Assert.That(first, Is.EqualTo(new[] { 1, 2 }));
            Assert.That(sut.Source.TryReceive(out int[]? second), Is.True);
            Assert.That(second, Is.EqualTo(new[] { 3, 4 }));
            Assert.That(sut.Source.TryReceive(out _), Is.False, "the open batch was received");
        });
    }

    [TestCase(2, true)]
    [TestCase(1, false)]
    public void TryReceive_Filter_ReceivesOnlyWhenTheHeadPasses(int length, bool expected)
    {
        var sut = CreateSut();
        sut.PostAll(1, 2);

        Assert.Multiple(() =>
        {
            Assert.That(sut.Source.TryReceive(b => b.Length == length, out _), Is.EqualTo(expected));
            Assert.That(sut.OutputCount, Is.EqualTo(expected ? 0 : 1));
        });
    }

    [Test]
    public void TryReceive_AfterTriggerBatch_ReturnsThePartialBatch()
    {
        var sut = CreateSut(batchSize: 3);
        sut.PostAll(1, 2);

        sut.TriggerBatch();

        Assert.Multiple(() =>
        {
            Assert.That(sut.Source.TryReceive(out int[]? batch), Is.True);
            Assert.That(batch, Is.EqualTo(new[] { 1, 2 }));
        });
    }

    [Test]
    public void TriggerBatch_NothingHeld_EmitsNothing()
    {
        var sut = CreateSut();

        sut.TriggerBatch();

        Assert.That(sut.Source.TryReceive(out _), Is.False);
    }

    [Test]
    public void TryReceiveAll_BatchesWaiting_ReturnsAllInOrder()
    {
        var sut = CreateSut();
        sut.PostAll(1, 2, 3, 4, 5);

        Assert.Multiple(() =>
        {
            Assert.That(sut.Source.TryReceiveAll(out IList<int[]>? batches), Is.True);
            Assert.That(batches, Is.EqualTo(new[] { new[] { 1, 2 }, new[] { 3, 4 } }));
            Assert.That(sut.Source.TryReceiveAll(out _), Is.False);
        });
    }

    [Test]
    public void TryReceiveAll_NothingWaiting_ReturnsFalse()
    {
        var sut = CreateSut();
        sut.PostAll(1);

        Assert.That(sut.Source.TryReceiveAll(out _), Is.False);
    }

    [Test, CancelAfter(10_000)]
    public async Task TryReceiveAll_AfterComplete_TakesTheFinalPartialBatchAndCompletes(CancellationToken ct)
    {
        var sut = CreateSut();
        sut.PostAll(1, 2, 3);
        sut.Target.Complete();
        await sut.Source.OutputAvailableAsync(ct);

        Assert.That(sut.Source.TryReceiveAll(out IList<int[]>? batches), Is.True);
        Assert.That(batches, Is.EqualTo(new[] { new[] { 1, 2 }, new[] { 3 } }));
        await sut.Completion.WaitAsync(ct);
    }

    // ---- Completion ---------------------------------------------------------------------------------------------

    [Test, CancelAfter(10_000)]
    public async Task Complete_WithPropagatingLink_TargetGetsTheFinalPartialBatchThenCompletes(CancellationToken ct)
    {
        var sut = CreateSut();
        var target = ProbeTarget.Accepting();
        sut.Source.LinkTo(target, new DataflowLinkOptions { PropagateCompletion = true });
        sut.PostAll(1, 2, 3);

        sut.Target.Complete();

        await target.Completion.WaitAsync(ct);
        Assert.Multiple(() =>
        {
            Assert.That(target.Received.TryReceiveAll(out IList<int[]>? batches), Is.True);
            Assert.That(batches, Is.EqualTo(new[] { new[] { 1, 2 }, new[] { 3 } }));
            Assert.That(sut.Completion.IsCompletedSuccessfully, Is.True);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Complete_BatchNotTaken_CompletionWaitsUntilItIsReceived(CancellationToken ct)
    {
        var sut = CreateSut();
        sut.PostAll(1, 2);

        sut.Target.Complete();

        Assert.That(sut.Completion.IsCompleted, Is.False);
        Assert.That(sut.Source.TryReceive(out _), Is.True);
        await sut.Completion.WaitAsync(ct);
    }

    [Test, CancelAfter(10_000)]
    public async Task LinkTo_AfterCompletion_CompletesAPropagatingTarget(CancellationToken ct)
    {
        var sut = CreateSut();
        sut.Target.Complete();
        await sut.Completion.WaitAsync(ct);
        var target = ProbeTarget.Accepting();

        sut.Source.LinkTo(target, new DataflowLinkOptions { PropagateCompletion = true });

        await target.Completion.WaitAsync(ct);
    }

    [Test, CancelAfter(10_000)]
    public async Task Fault_WithPropagatingLink_TargetIsFaultedWithTheCompletionsAggregateException(CancellationToken ct)
    {
        var sut = CreateSut();
        var target = ProbeTarget.Declining();
        sut.Source.LinkTo(target, new DataflowLinkOptions { PropagateCompletion = true });
        sut.PostAll(1, 2, 3);
        var boom = new InvalidOperationException("boom");

        sut.Block.Fault(boom);

        await Assert.ThatAsync(() => target.Completion.WaitAsync(ct), Throws.Exception);
        AssertFaultShape(sut, target.FaultedWith, boom);
    }

    [Test, CancelAfter(10_000)]
    public async Task LinkTo_AfterFault_FaultsAPropagatingTargetWithTheCompletionsAggregateException(CancellationToken ct)
    {
        var sut = CreateSut();
        var boom = new InvalidOperationException("boom");
        sut.Block.Fault(boom);
        await Assert.ThatAsync(() => sut.Completion.WaitAsync(ct), Throws.Exception);
        var target = ProbeTarget.Accepting();

        sut.Source.LinkTo(target, new DataflowLinkOptions { PropagateCompletion = true });

        await Assert.ThatAsync(() => target.Completion.WaitAsync(ct), Throws.Exception);
        AssertFaultShape(sut, target.FaultedWith, boom);
    }

    [Test, CancelAfter(10_000)]
    public async Task Fault_BatchesHeld_CompletionFaultsWithoutWaitingForThemAndTheyAreGone(CancellationToken ct)
    {
        var sut = CreateSut();
        sut.PostAll(1, 2, 3);
        var boom = new InvalidOperationException("boom");

        sut.Block.Fault(boom);

        await Assert.ThatAsync(() => sut.Completion.WaitAsync(ct), Throws.Exception.SameAs(boom));
        Assert.Multiple(() =>
        {
            Assert.That(sut.Source.TryReceive(out _), Is.False);
            Assert.That(sut.Target.Post(4), Is.False);
        });
    }

    private static void AssertFaultShape(BlockUnderTest sut, Exception? propagated, Exception original)
    {
        Assert.Multiple(() =>
        {
            Assert.That(sut.Completion.Exception, Is.TypeOf<AggregateException>());
            Assert.That(sut.Completion.Exception!.InnerExceptions, Is.EqualTo(new[] { original }));
            // Dataflow links pass the source's Completion.Exception (an AggregateException, not necessarily the same
            // instance), never the original exception.
            Assert.That(propagated, Is.TypeOf<AggregateException>(), "the target was not given an AggregateException");
            Assert.That(((AggregateException?)propagated)?.InnerExceptions, Is.EqualTo(new[] { original }));
        });
    }

    // ---- Helpers ------------------------------------------------------------------------------------------------

    // The head batch's header, learnt the way a target learns it: from an offer (then the link is gone).
    private static async Task<DataflowMessageHeader> HeadHeaderAsync(BlockUnderTest sut, CancellationToken ct)
    {
        var probe = ProbeTarget.Postponing();
        using (sut.Source.LinkTo(probe))
        {
            return (await probe.Offers.ReceiveAsync(ct)).Header;
        }
    }

    private static void Invoke(BlockUnderTest sut, ProtocolCall call, DataflowMessageHeader header, ITargetBlock<int[]>? target)
    {
        ISourceBlock<int[]> source = sut.Source;
        switch (call)
        {
            case ProtocolCall.OfferMessage:
                sut.Target.OfferMessage(header, 1, null, consumeToAccept: false);
                break;
            case ProtocolCall.ConsumeMessage:
                source.ConsumeMessage(header, target!, out _);
                break;
            case ProtocolCall.ReserveMessage:
                source.ReserveMessage(header, target!);
                break;
            case ProtocolCall.ReleaseReservation:
                source.ReleaseReservation(header, target!);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(call), call, null);
        }
    }
}
