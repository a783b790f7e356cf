namespace DataflowProducer.Tests;

// Semantics 1, 2 and 4: max-age linger (not debounce), count close in the same call, stale timers, no timer when
// it cannot matter.
public partial class LingerBatchBlockTests
{
    [Test]
    public void Post_SingleItem_EmittedExactlyLingerAfterIt()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1);

        time.Advance(Linger - Ms);
        Assert.That(block.OutputCount, Is.Zero, "one tick before the deadline");

        time.Advance(Ms);
        Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1 } }));
    }

    [Test]
    public void Post_ExactlyBatchSizeInBurst_EmitsOneBatchAndAdvancingEmitsNothing()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);

        PostAll(block, 1, 2, 3, 4);
        Assert.That(block.OutputCount, Is.EqualTo(1), "the batch closes in the call that adds its last item");

        time.Advance(Linger * 5);
        Assert.Multiple(() =>
        {
            Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1, 2, 3, 4 } }));
            Assert.That(block.Completion.IsCompleted, Is.False);
        });
    }

    [Test]
    public void Post_BatchSizePlusOne_SecondBatchClosesLingerAfterItsFirstItem()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1, 2, 3, 4);
        time.Advance(4 * Ms);
        PostAll(block, 5);

        // Item 1's deadline (t = L) must not cut the second batch, whose first item arrived at t = 4 ms.
        time.Advance(Linger - 4 * Ms);
        Assert.That(block.OutputCount, Is.EqualTo(1), "at item 1's deadline");
        time.Advance(4 * Ms - Ms);
        Assert.That(block.OutputCount, Is.EqualTo(1), "one tick before item 5's deadline");

        time.Advance(Ms);
        Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1, 2, 3, 4 }, new[] { 5 } }));
    }

    [Test]
    public void OnTimer_StaleCallbackAfterCountClose_DoesNotCutNextBatchShort()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1);

        // The timer armed for batch 1 comes due, but its callback is still queued when the batch fills up by count
        // and item 5 opens batch 2 (deadline t = 2L); then the stale callback finally runs.
        time.HoldCallbacks = true;
        time.Advance(Linger);
        PostAll(block, 2, 3, 4, 5);
        time.HoldCallbacks = false;
        time.Timer.RunHeldCallbacks();
        Assert.That(block.OutputCount, Is.EqualTo(1), "the stale callback must not close batch 2");

        time.Advance(Linger - Ms);
        Assert.That(block.OutputCount, Is.EqualTo(1), "one tick before batch 2's own deadline");

        time.Advance(Ms);
        Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1, 2, 3, 4 }, new[] { 5 } }));
    }

    [Test]
    public void OnTimer_TimerAndNthItemRacing_ItemWinsWithOneFullBatchAndNoEmptyBatch()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1, 2, 3);

        time.HoldCallbacks = true;
        time.Advance(Linger);
        PostAll(block, 4);
        time.HoldCallbacks = false;
        time.Timer.RunHeldCallbacks();
        time.Advance(Linger * 3);

        Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1, 2, 3, 4 } }));
    }

    [Test]
    public void OnTimer_TimerAndNthItemRacing_TimerWinsAndNthItemOpensBatchWithItsOwnDeadline()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1, 2, 3);

        time.Advance(Linger);
        PostAll(block, 4);
        Assert.That(block.OutputCount, Is.EqualTo(1));

        time.Advance(Linger - Ms);
        Assert.That(block.OutputCount, Is.EqualTo(1), "one tick before item 4's deadline");

        time.Advance(Ms);
        Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1, 2, 3 }, new[] { 4 } }));
    }

    [Test]
    public void Post_SteadyTrickleFasterThanLinger_EachBatchClosesLingerAfterItsFirstItem()
    {
        // One item every 3 ms with L = 10 ms and a batch size the trickle never reaches: a debounce would never fire.
        var time = new RecordingTimeProvider();
        var block = CreateSut(time, batchSize: 100);
        var emittedAt = new List<(int Ms, int[] Batch)>();
        for (int t = 0; t <= 40; t++)
        {
            if (t % 3 == 0)
            {
                PostAll(block, t);
            }

            foreach (int[] batch in ReceiveAll(block))
            {
                emittedAt.Add((t, batch));
            }

            time.Advance(Ms);
        }

        Assert.That(emittedAt, Is.EqualTo(new[]
        {
            (10, new[] { 0, 3, 6, 9 }),
            (22, new[] { 12, 15, 18, 21 }),
            (34, new[] { 24, 27, 30, 33 }),
        }));
    }

    [Test]
    public void Post_IdleLongerThanLingerThenBurst_BurstBatchedByCountAndRemainderByItsOwnDeadline()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        time.Advance(Linger * 7);
        Assert.That(block.OutputCount, Is.Zero, "idle: no empty batch");

        PostAll(block, Enumerable.Range(1, 10).ToArray());
        Assert.That(block.OutputCount, Is.EqualTo(2), "two full batches at once");

        time.Advance(Linger - Ms);
        Assert.That(block.OutputCount, Is.EqualTo(2), "the remainder's linger starts at the burst, not before");

        time.Advance(Ms);
        Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1, 2, 3, 4 }, new[] { 5, 6, 7, 8 }, new[] { 9, 10 } }));
    }

    [Test]
    public void Post_BatchSizeOne_EveryItemIsItsOwnBatchAndNoTimerIsCreated()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time, batchSize: 1);

        PostAll(block, 1, 2, 3);
        Assert.That(block.OutputCount, Is.EqualTo(3));
        time.Advance(Linger * 3);

        Assert.Multiple(() =>
        {
            Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1 }, new[] { 2 }, new[] { 3 } }));
            Assert.That(time.Timers, Is.Empty);
        });
    }

    [Test]
    public void Post_InfiniteLinger_BatchesByCountOnlyAndNoTimerIsCreated()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time, linger: Timeout.InfiniteTimeSpan);

        PostAll(block, 1, 2, 3, 4, 5, 6);
        time.Advance(TimeSpan.FromDays(30));
        Assert.That(block.OutputCount, Is.EqualTo(1), "the partial batch waits for count, trigger or complete");

        block.TriggerBatch();
        Assert.Multiple(() =>
        {
            Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1, 2, 3, 4 }, new[] { 5, 6 } }));
            Assert.That(time.Timers, Is.Empty);
        });
    }

    [Test]
    public void TriggerBatch_Empty_EmitsNothing()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);

        block.TriggerBatch();
        time.Advance(Linger * 2);

        Assert.That(block.OutputCount, Is.Zero);
    }

    [Test]
    public void TriggerBatch_Twice_EmitsOneBatch()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1, 2);

        block.TriggerBatch();
        block.TriggerBatch();
        time.Advance(Linger * 2);

        Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1, 2 } }));
    }

    [Test]
    public void TriggerBatch_PartialBatch_NextItemStartsAFreshLinger()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1);
        time.Advance(8 * Ms);
        block.TriggerBatch();
        PostAll(block, 2);

        time.Advance(Linger - Ms);
        Assert.That(block.OutputCount, Is.EqualTo(1), "item 1's old deadline does not cut item 2's batch");

        time.Advance(Ms);
        Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1 }, new[] { 2 } }));
    }

    [Test]
    public void TriggerBatch_AfterComplete_EmitsNothingMore()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time);
        PostAll(block, 1, 2);
        block.Complete();

        block.TriggerBatch();

        Assert.Multiple(() =>
        {
            Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1, 2 } }));
            Assert.That(block.Completion.IsCompletedSuccessfully, Is.True);
        });
        block.TriggerBatch();
        Assert.That(block.OutputCount, Is.Zero);
    }
}
