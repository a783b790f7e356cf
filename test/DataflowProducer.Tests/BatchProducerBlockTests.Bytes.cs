using System.Threading.Tasks.Dataflow;
using DataflowProducer.Testing;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using NSubstitute;

namespace DataflowProducer.Tests;

// The bytes bound (BoundedBytes, MaxBatchBytes, ItemSize): SendAsync waits and Post declines on either bound; bytes
// come back with every outcome; an item larger than the bound passes alone; a size function that fails declines only
// its own item.
public partial class BatchProducerBlockTests
{
    // Each item is as many bytes as its value.
    private static readonly Func<int, long> SizeIsValue = static i => i;

    private static BatchProducerOptions BytesOptions(long boundedBytes, long maxBatchBytes = -1, int batchSize = 10, Func<int, long>? itemSize = null)
    {
        BatchProducerOptions options = Options(batchSize: batchSize, boundedCapacity: 1000);
        options.BoundedBytes = boundedBytes;
        options.MaxBatchBytes = maxBatchBytes;
        options.ItemSize = itemSize ?? SizeIsValue;
        return options;
    }

    [Test, CancelAfter(10_000)]
    public async Task SendAsync_BytesBoundFull_WaitsUntilAnOutcomeFreesBytes(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int> { AcknowledgeImmediately = false };
        var block = CreateSut(sink, BytesOptions(boundedBytes: 100, batchSize: 5, itemSize: static _ => 10));
        for (int i = 0; i < 10; i++)
        {
            Assert.That(await block.SendAsync(i, ct), Is.True, $"SendAsync({i})");
        }

        Task<bool> sending = block.SendAsync(10, ct);
        bool posted = block.Post(11);
        await sink.WaitForBatchesAsync(2, ct);
        BatchProducerStatistics full = block.GetStatistics();

        Assert.Multiple(() =>
        {
            Assert.That(sending.IsCompleted, Is.False, "SendAsync waits while 100 of 100 bytes are held");
            Assert.That(posted, Is.False, "Post declines when the bytes bound is full");
            Assert.That(full.Accepted, Is.EqualTo(10), "the item bound (1000) is far from full");
            Assert.That(full.BytesHeld, Is.EqualTo(100));
        });

        Assert.That(sink.AcknowledgeNext(), Is.True);
        Assert.That(await sending.WaitAsync(ct), Is.True, "the outcome of the first batch freed 50 bytes");
        Assert.That(block.GetStatistics().BytesHeld, Is.EqualTo(60));

        sink.AcknowledgeImmediately = true;
        sink.AcknowledgeAll();
        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(sink.Items, Is.EqualTo(Enumerable.Range(0, 11)));
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(11, 3, 11, 0, 0, 0)), "BytesHeld is back to 0 too");
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Post_ItemLargerThanBytesBoundIntoEmptyPipeline_IsTakenAloneAndHoldsTheRestBack(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int> { AcknowledgeImmediately = false };
        var block = CreateSut(sink, BytesOptions(boundedBytes: 100, batchSize: 1));

        Assert.That(block.Post(500), Is.True, "nothing else is held: the oversized item passes alone");
        await sink.WaitForBatchesAsync(1, ct);
        Assert.Multiple(() =>
        {
            Assert.That(block.Post(1), Is.False, "the bound is exceeded while the large item is held");
            Assert.That(block.GetStatistics().BytesHeld, Is.EqualTo(500));
        });

        Assert.That(sink.AcknowledgeNext(), Is.True);
        Assert.That(await block.SendAsync(1, ct), Is.True);

        sink.AcknowledgeImmediately = true;
        sink.AcknowledgeAll();
        block.Complete();
        await block.Completion.WaitAsync(ct);
        Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(2, 2, 2, 0, 0, 0)));
    }

    [Test, CancelAfter(10_000)]
    public async Task SendAsync_ItemLargerThanBytesBoundWhileOthersHeld_WaitsUntilThePipelineIsEmpty(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int> { AcknowledgeImmediately = false };
        var block = CreateSut(sink, BytesOptions(boundedBytes: 100, batchSize: 1));
        PostAll(block, [10, 20]);
        await sink.WaitForBatchesAsync(2, ct);

        Task<bool> large = block.SendAsync(500, ct);
        Task<bool> behind = block.SendAsync(1, ct);
        Assert.That(sink.AcknowledgeNext(), Is.True);
        Assert.Multiple(() =>
        {
            Assert.That(large.IsCompleted, Is.False, "20 bytes are still held");
            Assert.That(behind.IsCompleted, Is.False, "offers behind the large one keep their order");
        });

        Assert.That(sink.AcknowledgeNext(), Is.True);
        Assert.That(await large.WaitAsync(ct), Is.True, "taken once nothing else is held");
        await sink.WaitForBatchesAsync(3, ct);
        Assert.That(behind.IsCompleted, Is.False, "the large item holds the bound");
        Assert.That(sink.AcknowledgeNext(), Is.True);
        Assert.That(await behind.WaitAsync(ct), Is.True);

        sink.AcknowledgeImmediately = true;
        sink.AcknowledgeAll();
        block.Complete();
        await block.Completion.WaitAsync(ct);
        Assert.That(sink.Items, Is.EqualTo(new[] { 10, 20, 500, 1 }));
    }

    [Test, CancelAfter(10_000)]
    public async Task Post_MaxBatchBytes_ClosesTheBatchBeforeItWouldBeExceeded(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int>();
        var block = CreateSut(sink, BytesOptions(boundedBytes: 1000, maxBatchBytes: 100, batchSize: 100));
        PostAll(block, [40, 40, 30, 100, 200, 5]);
        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.That(
            sink.Batches,
            Is.EqualTo(new[] { new[] { 40, 40 }, [30], [100], [200], [5] }),
            "40+40+30 would pass 100; 100 reaches it; 200 is larger than it and is a batch of its own");
    }

    [Test, CancelAfter(10_000)]
    public async Task Post_ItemSizeThrowsOrIsNegative_DeclinesThatItemAndLogsOnly_SendAsyncTakesItAsZeroBytes(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int>();
        var logger = new FakeLogger<BatchProducerBlock<int>>();
        var block = CreateSut(
            sink,
            BytesOptions(boundedBytes: 100, batchSize: 10, itemSize: static i => i switch { 3 => throw new FormatException("bad item"), 4 => -1, _ => 1 }),
            logger: logger);

        bool[] posted = [.. Enumerable.Range(0, 6).Select(block.Post)];
        bool sent = await block.SendAsync(3, ct);
        block.Complete();
        await block.Completion.WaitAsync(ct);

        FakeLogRecord[] sizeFailures = Records(logger, 1014);
        Assert.Multiple(() =>
        {
            Assert.That(posted, Is.EqualTo(new[] { true, true, true, false, false, true }));
            Assert.That(sent, Is.True, "SendAsync's second offer comes with a source: the item is taken as 0 bytes");
            Assert.That(sink.Items, Is.EqualTo(new[] { 0, 1, 2, 5, 3 }));
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(5, 1, 5, 0, 0, 0)));
            Assert.That(sizeFailures, Has.Length.EqualTo(4), "Post(3), Post(4), and SendAsync(3), which offers twice (first without a source, then with one) and is measured each time");
            Assert.That(sizeFailures[0].Exception, Is.InstanceOf<FormatException>());
            Assert.That(sizeFailures[1].Message, Does.Contain("returned -1"));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task BytesHeld_AfterDeliveredFailedAndAbandonedOutcomes_ReturnsToZeroAndPostersResume(CancellationToken ct)
    {
        var acknowledgements = new Queue<TaskCompletionSource<BatchResult>>();
        using var accepted = new SemaphoreSlim(0);
        var sink = Substitute.For<IBatchSink<int>>();
        SetupAccept(sink, _ =>
        {
            var ack = new TaskCompletionSource<BatchResult>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (acknowledgements)
            {
                acknowledgements.Enqueue(ack);
            }

            accepted.Release();
            return ValueTask.FromResult(ack.Task);
        });
        var block = CreateSut(sink, BytesOptions(boundedBytes: 30, batchSize: 3, itemSize: static _ => 10));
        PostAll(block, [0, 1, 2]);
        Task<bool> waiting = block.SendAsync(3, ct);
        Assert.That(waiting.IsCompleted, Is.False, "30 of 30 bytes held");

        // One delivered, one failed, one not sent and one unknown, all in one acknowledgement.
        TaskCompletionSource<BatchResult> first = await NextAcceptedAsync(accepted, acknowledgements, ct);

        first.SetResult(BatchResult.Create([new BatchItemError(1, new InvalidOperationException("failed"))], abandoned: [2], notSent: []));
        Assert.That(await waiting.WaitAsync(ct), Is.True, "the bytes of delivered, failed and abandoned items came back");
        PostAll(block, [4, 5]);

        TaskCompletionSource<BatchResult> second = await NextAcceptedAsync(accepted, acknowledgements, ct);

        second.SetResult(BatchResult.Create(null, null, notSent: [0, 1, 2]));
        Assert.That(await block.SendAsync(6, ct), Is.True);
        block.Complete();
        TaskCompletionSource<BatchResult> third = await NextAcceptedAsync(accepted, acknowledgements, ct);

        third.SetResult(BatchResult.AllDelivered);
        Exception? error = await ExceptionOf(block.Completion, ct);
        BatchProducerStatistics s = block.GetStatistics();

        Assert.Multiple(() =>
        {
            Assert.That(error, Is.InstanceOf<BatchProducerException<int>>(), "an item failed and four were abandoned");
            Assert.That(s.BytesHeld, Is.Zero);
            Assert.That(s.Accepted, Is.EqualTo(7));
            Assert.That(s.Accepted, Is.EqualTo(s.Delivered + s.Failed + s.Abandoned));
            Assert.That((s.Delivered, s.Failed, s.Abandoned), Is.EqualTo((2L, 1L, 4L)));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task BytesHeld_AfterAnAbort_IsZeroAndWaitingPostersAreReleased(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int> { AcknowledgeImmediately = false };
        var block = CreateSut(sink, BytesOptions(boundedBytes: 30, batchSize: 2, itemSize: static _ => 10));
        PostAll(block, [0, 1, 2]);
        Task<bool> waiting = block.SendAsync(3, ct);
        await sink.WaitForBatchesAsync(1, ct);

        Fault(block, new InvalidOperationException("stop"));
        Exception? error = await ExceptionOf(block.Completion, ct);
        BatchProducerStatistics s = block.GetStatistics();

        Assert.Multiple(() =>
        {
            Assert.That(waiting.IsCompletedSuccessfully && !waiting.Result, Is.True, "the waiting SendAsync returns false");
            Assert.That(error, Is.InstanceOf<BatchProducerException<int>>());
            Assert.That(s.BytesHeld, Is.Zero);
            Assert.That((s.Accepted, s.Abandoned), Is.EqualTo((3L, 3L)));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task ItemSizeThrows_ForAnItemFromALinkedSource_TakesItAsZeroBytesAndTheSourceGoesOn(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int>();
        var block = CreateSut(sink, BytesOptions(boundedBytes: 100, batchSize: 4, itemSize: static i => i == 1 ? throw new FormatException("bad item") : 1));
        var source = new BufferBlock<int>();
        source.LinkTo(block, new DataflowLinkOptions { PropagateCompletion = true });

        foreach (int i in Enumerable.Range(0, 8))
        {
            Assert.That(source.Post(i), Is.True);
        }

        source.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(sink.Items, Is.EqualTo(Enumerable.Range(0, 8)), "a declined item would have stayed at the source's head and stopped it");
            Assert.That(block.GetStatistics().BytesHeld, Is.Zero);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task SendAsync_BytesBoundFilledByTheOpenBatchWithCountOnlyBatching_ClosesTheOpenBatchSoTheWaitEnds(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int>();
        BatchProducerOptions options = BytesOptions(boundedBytes: 100, batchSize: 10, itemSize: static _ => 30);
        options.Linger = Timeout.InfiniteTimeSpan;
        var block = CreateSut(sink, options);
        PostAll(block, [0, 1, 2]);

        Assert.That(await block.SendAsync(3, ct).WaitAsync(ct), Is.True, "the open batch holds 90 of 100 bytes and cannot grow: it goes, its bytes come back");
        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(sink.Batches, Is.EqualTo(new[] { new[] { 0, 1, 2 }, new[] { 3 } }));
            Assert.That(block.GetStatistics().BytesHeld, Is.Zero);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task BytesHeld_DrainTimeoutAfterComplete_IsZero(CancellationToken ct)
    {
        // A sink that takes batches and never settles them, not even when flushed: the drain times out after the batch
        // block has completed, and the pipeline abandons what the sink holds.
        var handedOver = new SemaphoreSlim(0);
        IBatchSink<int> sink = Substitute.For<IBatchSink<int>>();
        SetupAccept(sink, _ => new ValueTask<Task<BatchResult>>(new TaskCompletionSource<BatchResult>().Task));
        WhenAccepting(sink, _ => handedOver.Release());
        sink.FlushAsync(Arg.Any<TimeSpan>(), Arg.Any<CancellationToken>()).Returns(Task.CompletedTask);
        BatchProducerOptions options = BytesOptions(boundedBytes: 100, batchSize: 2, itemSize: static _ => 10);
        options.DrainTimeout = TimeSpan.FromSeconds(1);
        options.SettleTime = TimeSpan.Zero;
        var time = (FakeTimeProvider)options.TimeProvider;
        var block = CreateSut(sink, options);
        PostAll(block, [0, 1, 2]);
        await handedOver.WaitAsync(ct);

        block.Complete();
        await handedOver.WaitAsync(ct);
        time.Advance(TimeSpan.FromSeconds(2));
        Exception? error = await ExceptionOf(block.Completion, ct);
        BatchProducerStatistics s = block.GetStatistics();

        Assert.Multiple(() =>
        {
            Assert.That(error, Is.InstanceOf<BatchProducerException<int>>());
            Assert.That((s.Accepted, s.Abandoned), Is.EqualTo((3L, 3L)));
            Assert.That(s.BytesHeld, Is.Zero, "the batches the sink held when the drain timed out gave their bytes back");
        });
    }

    [TestCase(0L, -1L, "BoundedBytes", "0")]
    [TestCase(-2L, -1L, "BoundedBytes", "-2")]
    [TestCase(-1L, 0L, "MaxBatchBytes", "0")]
    [TestCase(100L, 101L, "MaxBatchBytes", "101")]
    public void Constructor_BytesSettingOutOfRange_ThrowsNamingSettingAndValue(long boundedBytes, long maxBatchBytes, string name, string shown)
    {
        BatchProducerOptions options = BytesOptions(boundedBytes, maxBatchBytes);

        Assert.That(
            () => CreateSut(new RecordingBatchSink<int>(), options),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains($"BatchProducerOptions.{name}").And.Message.Contains(shown));
    }

    [Test]
    public void Constructor_BytesBoundWithoutItemSize_ThrowsNamingItemSize()
    {
        BatchProducerOptions options = BytesOptions(boundedBytes: 100);
        options.ItemSize = null;

        Assert.That(
            () => CreateSut(new RecordingBatchSink<int>(), options),
            Throws.InstanceOf<ArgumentNullException>().With.Message.Contains("BatchProducerOptions.ItemSize").And.Message.Contains("100"));
    }

    [Test]
    public void Constructor_ItemSizeOfAnotherItemType_ThrowsNamingItemSize()
    {
        BatchProducerOptions options = BytesOptions(boundedBytes: 100);
        options.ItemSize = (Func<string, long>)(static s => s.Length);

        Assert.That(
            () => CreateSut(new RecordingBatchSink<int>(), options),
            Throws.ArgumentException.With.Message.Contains("BatchProducerOptions.ItemSize").And.Message.Contains("Func<Int32, long>"));
    }

    // The acknowledgement of the next batch the substituted sink accepts, once it has.
    private static async Task<TaskCompletionSource<BatchResult>> NextAcceptedAsync(SemaphoreSlim accepted, Queue<TaskCompletionSource<BatchResult>> queue, CancellationToken ct)
    {
        await accepted.WaitAsync(ct);
        lock (queue)
        {
            return queue.Dequeue();
        }
    }

    // 999 measures long.MaxValue (a sentinel for "huge"), every other item 10 bytes: the sums must not wrap round.
    private static readonly Func<int, long> HugeIs999 = static i => i == 999 ? long.MaxValue : 10;

    [Test, CancelAfter(10_000)]
    public async Task Bytes_HugeItemSizeWhileOthersHeld_IsDeclinedAndTheBoundHolds(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int> { AcknowledgeImmediately = false };
        var block = CreateSut(sink, BytesOptions(boundedBytes: 100, batchSize: 10, itemSize: HugeIs999));

        bool first = block.Post(1);
        bool huge = block.Post(999);
        long heldAfterHuge = block.GetStatistics().BytesHeld;
        bool[] more = [.. Enumerable.Range(2, 20).Select(block.Post)];
        BatchProducerStatistics s = block.GetStatistics();

        Assert.Multiple(() =>
        {
            Assert.That(first, Is.True);
            Assert.That(huge, Is.False, "10 bytes are held: an item larger than the bound must wait until the pipeline holds nothing");
            Assert.That(heldAfterHuge, Is.InRange(0, 100), "BytesHeld after the huge offer");
            Assert.That(more.Count(b => b), Is.LessThanOrEqualTo(9), "at most 100 bytes (10 items of 10) may be held");
            Assert.That(s.BytesHeld, Is.InRange(0, long.MaxValue), "BytesHeld must never be negative");
        });

        Fault(block, new InvalidOperationException("stop"));
        await ExceptionOf(block.Completion, ct);
    }

    [Test, CancelAfter(10_000)]
    public async Task Bytes_HugeItemSizeUnderMaxBatchBytes_IsABatchOfItsOwn(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int>();
        var block = CreateSut(sink, BytesOptions(boundedBytes: -1, maxBatchBytes: 100, batchSize: 10, itemSize: HugeIs999));

        PostAll(block, [1, 999, 2, 3]);
        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.That(sink.Batches.Select(b => b.ToArray()), Is.EqualTo(new[] { new[] { 1 }, new[] { 999 }, new[] { 2, 3 } }),
            "MaxBatchBytes 100: the batch closes before the huge item, which is a batch of its own");
    }

    [Test, CancelAfter(10_000)]
    public async Task Bytes_DeclinedPostWhileInFlightHoldsBytes_DoesNotCutTheOpenBatch(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int> { AcknowledgeImmediately = false };
        var block = CreateSut(sink, BytesOptions(boundedBytes: 100, batchSize: 6, itemSize: static _ => 10));
        PostAll(block, Enumerable.Range(0, 6));
        await sink.WaitForBatchesAsync(1, ct);
        PostAll(block, Enumerable.Range(6, 4));
        bool declined = block.Post(100);
        Assert.That(declined, Is.False, "100 of 100 bytes held");

        int batchesWhenDeclined = sink.Batches.Count;
        Assert.That(sink.AcknowledgeNext(), Is.True);
        while (block.GetStatistics().BytesHeld > 40)
        {
            ct.ThrowIfCancellationRequested();
            await Task.Yield();
        }

        PostAll(block, [10, 11]);
        sink.AcknowledgeImmediately = true;
        sink.AcknowledgeAll();
        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.That(batchesWhenDeclined, Is.EqualTo(1), "batches handed over right after the declined Post");
        Assert.That(sink.Batches.Select(b => b.Length), Is.EqualTo(new[] { 6, 6 }),
            "the open batch [6..9] could still grow once the batch in flight gave its 60 bytes back; a declined Post cut it");
    }

    // The protocol is answered before any user code runs for the item, as the runtime's blocks answer it.
    private static BatchProducerBlock<int> Unmeasurable() =>
        CreateSut(new RecordingBatchSink<int>(), BytesOptions(boundedBytes: 100, itemSize: static _ => throw new FormatException("unmeasurable")));

    [Test]
    public void OfferMessage_InvalidHeaderWithUnmeasurableItem_ThrowsAsForAnyItem()
    {
        ITargetBlock<int> block = Unmeasurable();

        Assert.That(() => block.OfferMessage(default, 1, null, false), Throws.ArgumentException.With.Property("ParamName").EqualTo("messageHeader"));
    }

    [Test, CancelAfter(10_000)]
    public async Task OfferMessage_AfterCompleteWithUnmeasurableItem_DecliningPermanently(CancellationToken ct)
    {
        ITargetBlock<int> block = Unmeasurable();
        block.Complete();

        DataflowMessageStatus status = block.OfferMessage(new DataflowMessageHeader(1), 1, null, false);
        await block.Completion.WaitAsync(ct);

        Assert.That(status, Is.EqualTo(DataflowMessageStatus.DecliningPermanently));
    }
}
