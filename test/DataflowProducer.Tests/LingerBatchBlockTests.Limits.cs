namespace DataflowProducer.Tests;

// Limits changed at run time (the seam adaptive batching uses): points 1-4 hold across a change.
public partial class LingerBatchBlockTests
{
    private static LingerBatchBlock<int> CreateAdaptable(TimeProvider time, int batchSize = Size, int maxBatchSize = 64) =>
        new(new LingerBatchBlockOptions { BatchSize = batchSize, Linger = Linger, TimeProvider = time }, holdUntilReleased: false, consumer: null, maxBatchSize: maxBatchSize);

    [Test]
    public void SetLimits_SmallerThanTheOpenBatch_ClosesItAtOnceAndLaterBatchesUseTheNewSize()
    {
        var time = new RecordingTimeProvider();
        var block = CreateAdaptable(time);
        PostAll(block, 1, 2, 3);

        block.SetLimits(2, Linger);
        PostAll(block, 4, 5, 6);

        Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1, 2, 3 }, new[] { 4, 5 } }));
        Assert.That(block.BatchSize, Is.EqualTo(Size), "the public BatchSize stays the configured one");
    }

    [Test]
    public void SetLimits_Larger_BatchesCloseAtTheNewSize()
    {
        var time = new RecordingTimeProvider();
        var block = CreateAdaptable(time);
        PostAll(block, 1, 2);

        block.SetLimits(6, Linger);
        PostAll(block, 3, 4, 5, 6, 7);

        Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1, 2, 3, 4, 5, 6 } }));
    }

    [Test]
    public void SetLimits_LongerLingerWhileABatchIsOpen_OpenBatchKeepsItsDeadlineAndTheNextGetsTheNewLinger()
    {
        var time = new RecordingTimeProvider();
        var block = CreateAdaptable(time);
        PostAll(block, 1);
        time.Advance(Linger / 2);

        block.SetLimits(Size, Linger * 4);
        time.Advance(Linger / 2);
        Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1 } }), "closed at the deadline set when it opened");

        PostAll(block, 2);
        time.Advance(Linger * 4 - Ms);
        Assert.That(block.OutputCount, Is.Zero, "the next batch lingers for the new time");
        time.Advance(Ms);
        Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 2 } }));
    }

    [Test]
    public void SetLimits_BatchSizeOneGrown_LingerTimerClosesTheBatch()
    {
        var time = new RecordingTimeProvider();
        var block = CreateAdaptable(time, batchSize: 1);
        PostAll(block, 1);
        Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 1 } }));

        block.SetLimits(4, Linger);
        PostAll(block, 2, 3);
        Assert.That(block.OutputCount, Is.Zero);
        time.Advance(Linger);
        Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 2, 3 } }));
    }

    [Test]
    public void SetLimits_CountOnlyBlock_LingerIgnored()
    {
        var time = new RecordingTimeProvider();
        var block = new LingerBatchBlock<int>(new LingerBatchBlockOptions { BatchSize = 2, Linger = Timeout.InfiniteTimeSpan, TimeProvider = time }, holdUntilReleased: false, consumer: null, maxBatchSize: 8);

        block.SetLimits(3, Linger);
        PostAll(block, 1, 2);
        time.Advance(Linger * 10);

        Assert.Multiple(() =>
        {
            Assert.That(block.OutputCount, Is.Zero, "still count-only");
            Assert.That(block.CurrentLinger, Is.EqualTo(Timeout.InfiniteTimeSpan));
        });
    }
}
