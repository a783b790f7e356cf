using System.Threading.Tasks.Dataflow;

namespace DataflowProducer.Tests.Conformance;

// Greedy count-only batching as the runtime's own BatchBlock tests and Mono's BatchBlockTest pin it: when a batch is
// output, what TriggerBatch does around Complete, cancellation and racing calls, BoundedCapacity, cancellation tokens,
// and many linked sources. The same rules as the rest of the fixture: no sleeps, awaits bounded by CancelAfter.
//
// The runtime builds batches on the thread pool when BoundedCapacity is set, so bounded scenarios await the output
// (OutputAvailableAsync) before they look at it; unbounded ones check it synchronously, as the oracle suites do.
public sealed partial class BatchBlockConformanceTests
{
    public enum ReceiveKind
    {
        TryReceive,
        TryReceiveWithFilter,
        TryReceiveAll,
        ReceiveAsync,
    }

    // ---- Batching by count ----------------------------------------------------------------------------------------

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(5)]
    [CancelAfter(10_000)]
    public async Task Post_EachItem_OutputCountCountsEveryFullBatchAtOnce(int batchSize, CancellationToken ct)
    {
        const int Batches = 3;
        var sut = CreateSut(batchSize);

        for (int i = 0; i < Batches * batchSize; i++)
        {
            sut.PostAll(i);
            Assert.That(sut.OutputCount, Is.EqualTo((i + 1) / batchSize), $"after item {i}");
        }

        for (int b = 0; b < Batches; b++)
        {
            int[] batch = await sut.Source.ReceiveAsync(ct);
            Assert.Multiple(() =>
            {
                Assert.That(batch, Is.EqualTo(Enumerable.Range(b * batchSize, batchSize)));
                Assert.That(sut.OutputCount, Is.EqualTo(Batches - b - 1));
            });
        }
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(5)]
    [CancelAfter(10_000)]
    public async Task OfferMessage_ManyLinkedSourcesOfferOneItemEach_EveryBatchIsFull(int batchSize, CancellationToken ct)
    {
        const int Batches = 5;
        var sut = CreateSut(batchSize);
        var sources = Enumerable.Range(0, Batches * batchSize).Select(_ => new BufferBlock<int>()).ToList();

        foreach (BufferBlock<int> source in sources)
        {
            source.LinkTo(sut.Target);
            Assert.That(source.Post(1), Is.True);
        }

        for (int b = 0; b < Batches; b++)
        {
            Assert.That((await sut.Source.ReceiveAsync(ct)).Sum(), Is.EqualTo(batchSize), $"batch {b}");
        }
    }

    // ---- TriggerBatch ---------------------------------------------------------------------------------------------

    [TestCase(2, 1)]
    [TestCase(5, 1)]
    [TestCase(5, 4)]
    public void TriggerBatch_PartialBatch_IsOutputAtOnceAndTheNextBatchIsFullSizeAgain(int batchSize, int queued)
    {
        var sut = CreateSut(batchSize);
        sut.PostAll([.. Enumerable.Range(1, queued)]);
        Assert.That(sut.OutputCount, Is.Zero);

        sut.TriggerBatch();

        Assert.That(sut.OutputCount, Is.EqualTo(1));
        Assert.That(sut.Source.TryReceive(out int[]? partial), Is.True);
        Assert.That(partial, Is.EqualTo(Enumerable.Range(1, queued)));
        for (int i = 0; i < batchSize; i++)
        {
            Assert.That(sut.OutputCount, Is.Zero, $"a batch was output after {i} of {batchSize} items");
            sut.PostAll(100 + i);
        }

        Assert.That(sut.OutputCount, Is.EqualTo(1));
    }

    [Test]
    public void TriggerBatch_BatchSizeOne_ChangesNothing()
    {
        var sut = CreateSut(batchSize: 1);

        for (int i = 0; i < 2; i++)
        {
            sut.PostAll(i);
            int before = sut.OutputCount;
            sut.TriggerBatch();
            Assert.That(sut.OutputCount, Is.EqualTo(before), $"after item {i}");
        }

        Assert.That(sut.Source.TryReceiveAll(out IList<int[]>? batches), Is.True);
        Assert.That(batches, Is.EqualTo(new[] { new[] { 0 }, new[] { 1 } }));
    }

    [TestCase(0)]
    [TestCase(1)]
    [CancelAfter(10_000)]
    public async Task TriggerBatch_AfterComplete_EmitsNothingMore(int posted, CancellationToken ct)
    {
        var sut = CreateSut();
        sut.PostAll([.. Enumerable.Range(1, posted)]);

        sut.Target.Complete();
        Assert.That(sut.OutputCount, Is.EqualTo(posted), "Complete did not output the open batch at once");
        sut.TriggerBatch();
        sut.TriggerBatch();

        Assert.That(sut.OutputCount, Is.EqualTo(posted));
        if (posted > 0)
        {
            Assert.That(sut.Source.TryReceiveAll(out IList<int[]>? batches), Is.True);
            Assert.That(batches, Is.EqualTo(new[] { Enumerable.Range(1, posted).ToArray() }));
        }

        await sut.Completion.WaitAsync(ct);
    }

    [Test, CancelAfter(10_000)]
    public async Task Complete_RightAfterTriggerBatch_AddsNoEmptyBatch(CancellationToken ct)
    {
        var sut = CreateSut();
        sut.PostAll(1);

        sut.TriggerBatch();
        sut.Target.Complete();

        Assert.That(sut.Source.TryReceiveAll(out IList<int[]>? batches), Is.True);
        Assert.That(batches, Is.EqualTo(new[] { new[] { 1 } }));
        await sut.Completion.WaitAsync(ct);
    }

    [TestCase(true)]
    [TestCase(false)]
    [CancelAfter(10_000)]
    public async Task TriggerBatch_LinkedBeforeOrAfter_TargetGetsThePartialBatchAndLaterItemsWaitForAFullOne(bool linkFirst, CancellationToken ct)
    {
        const int BatchSize = 10;
        var sut = CreateSut(BatchSize);
        var target = ProbeTarget.Accepting();
        if (linkFirst)
        {
            sut.Source.LinkTo(target);
        }

        sut.PostAll([.. Enumerable.Range(0, 9)]);
        sut.TriggerBatch();
        sut.PostAll(42);
        if (!linkFirst)
        {
            sut.Source.LinkTo(target);
        }

        Assert.That(await target.Received.ReceiveAsync(ct), Is.EqualTo(Enumerable.Range(0, 9)));

        // 42 opened a new batch: it is output only with nine more, never alone.
        sut.PostAll([.. Enumerable.Range(43, BatchSize - 1)]);
        Assert.That(await target.Received.ReceiveAsync(ct), Is.EqualTo(new[] { 42 }.Concat(Enumerable.Range(43, BatchSize - 1))));
        Assert.That(target.OfferedIds, Has.Length.EqualTo(2));
    }

    [Test, CancelAfter(10_000)]
    public async Task TriggerBatch_RacingWithSendAsync_EveryItemIsOutputOnce(CancellationToken ct)
    {
        var sut = CreateSut();
        var target = ProbeTarget.Accepting();
        sut.Source.LinkTo(target);
        Assert.That(await sut.Target.SendAsync(0, ct), Is.True);
        using var ready = new ManualResetEventSlim();
        Task<bool> racer = Task.Run(() =>
        {
            ready.Set();
            return sut.Target.SendAsync(1, ct);
        }, ct);

        ready.Wait(ct);
        sut.TriggerBatch();
        Assert.That(await racer.WaitAsync(ct), Is.True);

        // Whichever came first, the item sent last is in the first batch or in the one this trigger closes.
        var received = new List<int>(await target.Received.ReceiveAsync(ct));
        if (received.Count < Size)
        {
            sut.TriggerBatch();
            received.AddRange(await target.Received.ReceiveAsync(ct));
        }

        Assert.That(received, Is.EqualTo(new[] { 0, 1 }));
    }

    [Test, CancelAfter(10_000)]
    public async Task TriggerBatch_RacingWithComplete_OneBatchOfTheOpenItemsAndNoOther(CancellationToken ct)
    {
        var sut = CreateSut();
        var target = ProbeTarget.Accepting();
        sut.Source.LinkTo(target, new DataflowLinkOptions { PropagateCompletion = true });
        Assert.That(await sut.Target.SendAsync(0, ct), Is.True);
        using var ready = new ManualResetEventSlim();
        Task racer = Task.Run(() =>
        {
            ready.Set();
            sut.Target.Complete();
        }, ct);

        ready.Wait(ct);
        sut.TriggerBatch();
        await racer.WaitAsync(ct);

        await target.Completion.WaitAsync(ct);
        Assert.Multiple(() =>
        {
            Assert.That(target.Received.TryReceiveAll(out IList<int[]>? batches), Is.True);
            Assert.That(batches, Is.EqualTo(new[] { new[] { 0 } }));
            Assert.That(sut.Completion.IsCompletedSuccessfully, Is.True);
        });
    }

    // ---- Bounded capacity -----------------------------------------------------------------------------------------

    [Test, CancelAfter(10_000)]
    public async Task Post_BoundedCapacityFull_IsDeclinedUntilABatchIsTaken(CancellationToken ct)
    {
        var sut = CreateSut(batchSize: 3, boundedCapacity: 3);
        sut.PostAll(1, 2);

        sut.TriggerBatch();
        Assert.That(await sut.Source.OutputAvailableAsync(ct), Is.True);

        // The batch [1, 2] waiting to be taken still counts against the capacity.
        Assert.That(sut.Target.Post(3), Is.True);
        Assert.That(sut.Target.Post(4), Is.False, "accepted past BoundedCapacity");
        Assert.That(sut.Source.TryReceive(out int[]? batch), Is.True);
        Assert.That(batch, Is.EqualTo(new[] { 1, 2 }));
        Assert.Multiple(() =>
        {
            Assert.That(sut.Target.Post(5), Is.True);
            Assert.That(sut.Target.Post(6), Is.True);
        });
        Assert.That(await sut.Source.ReceiveAsync(ct), Is.EqualTo(new[] { 3, 5, 6 }));
    }

    [TestCase(ReceiveKind.TryReceive)]
    [TestCase(ReceiveKind.TryReceiveWithFilter)]
    [TestCase(ReceiveKind.TryReceiveAll)]
    [TestCase(ReceiveKind.ReceiveAsync)]
    [CancelAfter(10_000)]
    public async Task SendAsync_BoundedCapacityFull_WaitsUntilABatchIsReceivedThenIsTaken(ReceiveKind receive, CancellationToken ct)
    {
        const int Sends = 5;
        var sut = CreateSut(batchSize: 1, boundedCapacity: 1);
        sut.PostAll(0);

        for (int i = 1; i <= Sends; i++)
        {
            Task<bool> send = sut.Target.SendAsync(i, ct);
            Assert.That(await sut.Source.OutputAvailableAsync(ct), Is.True);
            Assert.That(send.IsCompleted, Is.False, $"send {i} was taken while the block was full");

            Assert.That(await ReceiveAsync(sut, receive, expectedHead: i - 1, ct), Is.EqualTo(new[] { i - 1 }));
            Assert.That(await send.WaitAsync(ct), Is.True, $"send {i}");
        }

        Assert.That(await sut.Source.ReceiveAsync(ct), Is.EqualTo(new[] { Sends }));
        sut.Target.Complete();
        await sut.Completion.WaitAsync(ct);
    }

    [TestCase(DataflowBlockOptions.Unbounded, 1)]
    [TestCase(DataflowBlockOptions.Unbounded, 2)]
    [TestCase(2, 1)]
    [TestCase(2, 2)]
    [TestCase(3, 1)]
    [TestCase(3, 2)]
    [CancelAfter(30_000)]
    public async Task SendAsync_ProducerAndConsumerAtOnce_BatchesArriveFullAndInOrder(int boundedCapacity, int batchSize, CancellationToken ct)
    {
        const int Messages = 50;
        var sut = CreateSut(batchSize, boundedCapacity);

        Task<List<int>> consumer = Task.Run(async () =>
        {
            var items = new List<int>();
            while (await sut.Source.OutputAvailableAsync(ct))
            {
                int[] batch = await sut.Source.ReceiveAsync(ct);
                Assert.That(batch, Has.Length.EqualTo(batchSize));
                items.AddRange(batch);
            }

            return items;
        }, ct);
        Task producer = Task.Run(async () =>
        {
            for (int i = 0; i < Messages; i++)
            {
                Assert.That(await sut.Target.SendAsync(i, ct), Is.True, $"send {i}");
            }

            sut.Target.Complete();
        }, ct);

        await Task.WhenAll(producer, consumer).WaitAsync(ct);
        Assert.That(await consumer, Is.EqualTo(Enumerable.Range(0, Messages)));
        await sut.Completion.WaitAsync(ct);
    }

    [TestCase(DataflowBlockOptions.Unbounded)]
    [TestCase(3)]
    [CancelAfter(10_000)]
    public async Task Fault_WithSendsWaiting_CompletionFaultsAndEverySendCompletes(int boundedCapacity, CancellationToken ct)
    {
        var sut = CreateSut(boundedCapacity: boundedCapacity);
        Task<bool>[] sends = [.. Enumerable.Range(0, 100).Select(i => sut.Target.SendAsync(i, ct))];

        sut.Block.Fault(new InvalidCastException());

        await Assert.ThatAsync(() => sut.Completion.WaitAsync(ct), Throws.InstanceOf<InvalidCastException>());
        await Task.WhenAll(sends).WaitAsync(ct);
        Assert.That(sends.Count(s => s.Result), Is.EqualTo(boundedCapacity < 0 ? 100 : boundedCapacity), "sends taken before the fault");
    }

    // ---- Completion, fault and cancellation -----------------------------------------------------------------------

    [Test, CancelAfter(10_000)]
    public async Task Complete_CalledTwice_CompletionIsOneTaskThatSucceeds(CancellationToken ct)
    {
        var sut = CreateSut();
        Task before = sut.Completion;
        Assert.That(before.IsCompleted, Is.False);

        sut.Target.Complete();
        sut.Target.Complete();

        Assert.That(sut.Completion, Is.SameAs(before));
        await sut.Completion.WaitAsync(ct);
        Assert.That(sut.Completion.IsCompletedSuccessfully, Is.True);
    }

    [Test]
    public void Fault_NullException_ThrowsArgumentNullException()
    {
        var sut = CreateSut();

        Assert.That(() => sut.Block.Fault(null!), Throws.ArgumentNullException);
        Assert.That(sut.Completion.IsCompleted, Is.False);
    }

    [Test, CancelAfter(10_000)]
    public async Task Cancel_BatchesHeld_CompletionIsCanceledAndNothingIsLeft(CancellationToken ct)
    {
        using var cts = new CancellationTokenSource();
        var sut = CreateSutCanceledBy(cts.Token, batchSize: 1);
        sut.PostAll(0, 1, 2, 3);
        Assert.That(await sut.Source.ReceiveAsync(ct), Is.EqualTo(new[] { 0 }));
        Assert.That(await sut.Source.ReceiveAsync(ct), Is.EqualTo(new[] { 1 }));

        await cts.CancelAsync();

        await Assert.ThatAsync(() => sut.Completion.WaitAsync(ct), Throws.InstanceOf<OperationCanceledException>());
        Assert.Multiple(() =>
        {
            Assert.That(sut.Completion.IsCanceled, Is.True);
            Assert.That(sut.OutputCount, Is.Zero);
            Assert.That(sut.Source.TryReceive(out _), Is.False);
            Assert.That(sut.Target.Post(4), Is.False);
        });
    }

    [TestCase(false)]
    [TestCase(true)]
    [CancelAfter(10_000)]
    public async Task TriggerBatch_AfterCancellation_EmitsNothing(bool posted, CancellationToken ct)
    {
        using var cts = new CancellationTokenSource();
        var sut = CreateSutCanceledBy(cts.Token);
        if (posted)
        {
            sut.PostAll(42);
        }

        await cts.CancelAsync();
        sut.TriggerBatch();

        Assert.That(sut.OutputCount, Is.Zero);
        await Assert.ThatAsync(() => sut.Completion.WaitAsync(ct), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(sut.OutputCount, Is.Zero);
    }

    [Test, CancelAfter(10_000)]
    public async Task Create_PrecanceledToken_DeclinesEverythingAndCompletionIsCanceled(CancellationToken ct)
    {
        var sut = CreateSutCanceledBy(new CancellationToken(canceled: true), batchSize: 42);

        Assert.That(sut.Source.LinkTo(DataflowBlock.NullTarget<int[]>()), Is.Not.Null);
        Assert.That(sut.Target.Post(42), Is.False);
        Task<bool> send = sut.Target.SendAsync(42, ct);
        Assert.Multiple(() =>
        {
            Assert.That(send.IsCompleted, Is.True, "SendAsync waited on a canceled block");
            Assert.That(send.Result, Is.False);
            Assert.That(sut.Source.TryReceive(out _), Is.False);
            Assert.That(sut.Source.TryReceiveAll(out _), Is.False);
            Assert.That(sut.OutputCount, Is.Zero);
        });
        Assert.That(() => sut.Target.Complete(), Throws.Nothing);

        await Assert.ThatAsync(() => sut.Completion.WaitAsync(ct), Throws.InstanceOf<OperationCanceledException>());
    }

    [Test, CancelAfter(10_000)]
    public async Task Cancel_WhileTheHeadIsReserved_AfterTheReleaseCompletionIsCanceledAndNothingIsLeft(CancellationToken ct)
    {
        using var cts = new CancellationTokenSource();
        var sut = CreateSutCanceledBy(cts.Token, batchSize: 1);
        var reserving = ProbeTarget.ReservingTheFirstOffer();
        sut.PostAll(0);
        sut.Source.LinkTo(reserving);
        ProbeTarget.Offer reserved = await reserving.Offers.ReceiveAsync(ct);
        Assert.That(sut.Source.TryReceive(out _), Is.False, "the head is not reserved");
        sut.PostAll(1);
        Assert.That(sut.OutputCount, Is.EqualTo(2));

        await cts.CancelAsync();
        reserved.Source!.ReleaseReservation(reserved.Header, reserving);

        await Assert.ThatAsync(() => sut.Completion.WaitAsync(ct), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(sut.OutputCount, Is.Zero);
    }

    // ---- Helpers --------------------------------------------------------------------------------------------------

    private static async Task<int[]> ReceiveAsync(BlockUnderTest sut, ReceiveKind kind, int expectedHead, CancellationToken ct)
    {
        int[]? batch;
        switch (kind)
        {
            case ReceiveKind.TryReceive:
                Assert.That(sut.Source.TryReceive(out batch), Is.True);
                return batch!;
            case ReceiveKind.TryReceiveWithFilter:
                Assert.That(sut.Source.TryReceive(b => b[0] == expectedHead + 1, out _), Is.False, "the filter was ignored");
                Assert.That(sut.Source.TryReceive(b => b[0] == expectedHead, out batch), Is.True);
                return batch!;
            case ReceiveKind.TryReceiveAll:
                Assert.That(sut.Source.TryReceiveAll(out IList<int[]>? batches), Is.True);
                Assert.That(batches, Has.Count.EqualTo(1));
                return batches![0];
            case ReceiveKind.ReceiveAsync:
                return await sut.Source.ReceiveAsync(ct);
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }
}
