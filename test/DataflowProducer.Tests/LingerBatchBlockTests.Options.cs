using System.Threading.Tasks.Dataflow;

namespace DataflowProducer.Tests;

// Semantic 13: bad configuration fails at construction, naming the setting and the value; options are copied.
public partial class LingerBatchBlockTests
{
    [TestCase(0, 10, -1, "BatchSize", "0")]
    [TestCase(-1, 10, -1, "BatchSize", "-1")]
    [TestCase(4, 0, -1, "Linger", "00:00:00")]
    [TestCase(4, -5, -1, "Linger", "-00:00:00.0050000")]
    [TestCase(4, 10, 3, "BoundedCapacity", "3")]
    [TestCase(4, 10, 0, "BoundedCapacity", "0")]
    [TestCase(4, 10, -2, "BoundedCapacity", "-2")]
    public void Constructor_BadOptions_ThrowsArgumentOutOfRangeNamingSettingAndValue(int batchSize, int lingerMs, int boundedCapacity, string setting, string value)
    {
        var options = new LingerBatchBlockOptions
        {
            BatchSize = batchSize,
            Linger = TimeSpan.FromMilliseconds(lingerMs),
            BoundedCapacity = boundedCapacity,
        };

        Assert.That(
            () => new LingerBatchBlock<int>(options),
            Throws.TypeOf<ArgumentOutOfRangeException>()
                .With.Message.Contains($"LingerBatchBlockOptions.{setting} ")
                .And.Message.Contains($"but was {value}.")
                .And.Property(nameof(ArgumentException.ParamName)).EqualTo("options"));
    }

    [Test]
    public void Constructor_LingerOverTimerMaximum_ThrowsArgumentOutOfRange()
    {
        var options = new LingerBatchBlockOptions { Linger = TimeSpan.FromDays(60) };

        Assert.That(() => new LingerBatchBlock<int>(options), Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("Linger"));
    }

    [Test]
    public void Constructor_NullTimeProvider_ThrowsArgumentNullException()
    {
        var options = new LingerBatchBlockOptions { TimeProvider = null! };

        Assert.That(
            () => new LingerBatchBlock<int>(options),
            Throws.ArgumentNullException.With.Message.Contains("LingerBatchBlockOptions.TimeProvider"));
    }

    [Test]
    public void Constructor_NullOptions_ThrowsArgumentNullException()
    {
        Assert.That(() => new LingerBatchBlock<int>(null!), Throws.ArgumentNullException);
    }

    [Test]
    public void Constructor_BatchSizeAndLingerOverload_UsesThem()
    {
        var block = new LingerBatchBlock<int>(7, Timeout.InfiniteTimeSpan);

        Assert.Multiple(() =>
        {
            Assert.That(block.BatchSize, Is.EqualTo(7));
            Assert.That(block.Linger, Is.EqualTo(Timeout.InfiniteTimeSpan));
        });
    }

    [Test]
    public void Constructor_OptionsChangedAfterConstruction_BlockKeepsTheOriginalValues()
    {
        var time = new RecordingTimeProvider();
        var options = new LingerBatchBlockOptions { BatchSize = 2, Linger = Linger, BoundedCapacity = 2, TimeProvider = time };
        var block = new LingerBatchBlock<int>(options);

        options.BatchSize = 100;
        options.Linger = TimeSpan.FromHours(1);
        options.BoundedCapacity = DataflowBlockOptions.Unbounded;
        options.TimeProvider = TimeProvider.System;

        PostAll(block, 1, 2);
        Assert.Multiple(() =>
        {
            Assert.That(block.Post(3), Is.False, "still bounded at 2");
            Assert.That(block.OutputCount, Is.EqualTo(1), "still batches of 2");
            Assert.That(block.BatchSize, Is.EqualTo(2));
            Assert.That(block.Linger, Is.EqualTo(Linger));
        });
        ReceiveAll(block);
        PostAll(block, 3);
        time.Advance(Linger);
        Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 3 } }), "still the fake clock and the original linger");
    }
}
