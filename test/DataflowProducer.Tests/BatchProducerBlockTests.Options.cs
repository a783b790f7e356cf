using System.Threading.Tasks.Dataflow;
using DataflowProducer.Testing;
using DataflowProducer.Tests.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace DataflowProducer.Tests;

// Construction (DESIGN 4.13): bad settings fail at once, naming the setting and the value; options and callbacks
// are copied, so later changes by the caller do not leak into a running block.
public partial class BatchProducerBlockTests
{
    [TestCase("BatchSize", 0, "BatchSize", "0")]
    [TestCase("BatchSize", -5, "BatchSize", "-5")]
    [TestCase("Linger", 0, "Linger", "00:00:00")]
    [TestCase("Linger", -1000, "Linger", "-00:00:01")]
    [TestCase("BoundedCapacity", 9, "BoundedCapacity", "9")]
    [TestCase("BoundedCapacity", 0, "BoundedCapacity", "0")]
    [TestCase("MaxInFlightBatches", 0, "MaxInFlightBatches", "0")]
    [TestCase("MaxInFlightBatches", -1, "MaxInFlightBatches", "-1")]
    [TestCase("DrainTimeout", -1000, "DrainTimeout", "-00:00:01")]
    [TestCase("FailurePolicy", 7, "FailurePolicy", "7")]
    [TestCase("SettleTime", -1000, "SettleTime", "-00:00:01")]
    [TestCase("SettleTime", -1, "SettleTime", "-00:00:00.0010000")]
    [TestCase("OutcomeBoundedCapacity", 0, "OutcomeBoundedCapacity", "0")]
    public void Constructor_SettingOutOfRange_ThrowsNamingSettingAndValue(string setting, int value, string name, string shown)
    {
        BatchProducerOptions options = Options(batchSize: 10, boundedCapacity: 100);
        switch (setting)
        {
            case "BatchSize": options.BatchSize = value; break;
            case "Linger": options.Linger = TimeSpan.FromMilliseconds(value); break;
            case "BoundedCapacity": options.BoundedCapacity = value; break;
            case "MaxInFlightBatches": options.MaxInFlightBatches = value; break;
            case "DrainTimeout": options.DrainTimeout = TimeSpan.FromMilliseconds(value); break;
            case "SettleTime": options.SettleTime = TimeSpan.FromMilliseconds(value); break;
            case "OutcomeBoundedCapacity": options.OutcomeBoundedCapacity = value; break;
            default: options.FailurePolicy = (FailurePolicy)value; break;
        }

        Assert.That(
            () => new BatchProducerBlock<int>(new RecordingBatchSink<int>(), options),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contain(name).And.Message.Contain(shown));
    }

    [Test]
    public void Constructor_DrainTimeoutLongerThanATimerTakes_ThrowsNamingIt()
    {
        // Before, 60 days passed validation and Complete() threw from the timer, leaving Completion pending forever.
        BatchProducerOptions options = Options();
        options.DrainTimeout = TimeSpan.FromDays(60);

        Assert.That(
            () => new BatchProducerBlock<int>(new RecordingBatchSink<int>(), options),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contain("DrainTimeout").And.Message.Contain("60.00:00:00"));
    }

    [TestCase(1, 1)]
    [TestCase(10, 10)]
    [TestCase(10, DataflowBlockOptions.Unbounded)]
    public void Constructor_BoundaryValues_Accepted(int batchSize, int boundedCapacity)
    {
        var options = Options(batchSize: batchSize, boundedCapacity: boundedCapacity);
        options.MaxInFlightBatches = 1;
        options.DrainTimeout = TimeSpan.Zero;

        Assert.That(() => new BatchProducerBlock<int>(new RecordingBatchSink<int>(), options), Throws.Nothing);
    }

    [Test]
    public void Constructor_InfiniteLingerAndDrainTimeout_Accepted()
    {
        var options = Options();
        options.Linger = Timeout.InfiniteTimeSpan;
        options.DrainTimeout = Timeout.InfiniteTimeSpan;

        Assert.That(() => new BatchProducerBlock<int>(new RecordingBatchSink<int>(), options), Throws.Nothing);
    }

    [Test]
    public void Constructor_NullSink_ThrowsArgumentNullException()
    {
        Assert.That(
            () => new BatchProducerBlock<int>(null!, Options()),
            Throws.ArgumentNullException.With.Property(nameof(ArgumentNullException.ParamName)).EqualTo("sink"));
    }

    [Test]
    public void Constructor_NullTimeProvider_ThrowsArgumentNullException()
    {
        var options = Options();
        options.TimeProvider = null!;

        Assert.That(() => new BatchProducerBlock<int>(new RecordingBatchSink<int>(), options), Throws.ArgumentNullException.With.Message.Contain("TimeProvider"));
    }

    [Test]
    public void Constructor_DefaultOptions_UseDocumentedDefaults()
    {
        var options = new BatchProducerOptions();

        Assert.Multiple(() =>
        {
            Assert.That(options.BatchSize, Is.EqualTo(1000));
            Assert.That(options.Linger, Is.EqualTo(TimeSpan.FromMilliseconds(50)));
            Assert.That(options.BoundedCapacity, Is.EqualTo(100_000));
            Assert.That(options.MaxInFlightBatches, Is.EqualTo(32));
            Assert.That(options.DrainTimeout, Is.EqualTo(TimeSpan.FromSeconds(30)));
            Assert.That(options.FailurePolicy, Is.EqualTo(FailurePolicy.ReportAndContinue));
            Assert.That(options.SettleTime, Is.EqualTo(TimeSpan.FromSeconds(2)));
            Assert.That(options.EmitOutcomes, Is.False);
            Assert.That(options.OutcomeBoundedCapacity, Is.EqualTo(16));
            Assert.That(options.TimeProvider, Is.SameAs(TimeProvider.System));
            Assert.That(() => new BatchProducerBlock<int>(new RecordingBatchSink<int>()), Throws.Nothing);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Constructor_OptionsChangedAfterwards_BlockKeepsItsCopy(CancellationToken ct)
    {
        var time = new FakeTimeProvider();
        var sink = new RecordingBatchSink<int> { FailWhen = static i => i == 0 ? new InvalidOperationException() : null };
        var options = Options(time, batchSize: 2, failurePolicy: FailurePolicy.ReportAndContinue);
        var block = CreateSut(sink, options);

        options.BatchSize = 1;
        options.FailurePolicy = FailurePolicy.FaultPipeline;
        PostAll(block, Enumerable.Range(0, 6));
        block.Complete();
        await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(sink.Batches.Select(static b => b.Length), Is.All.EqualTo(2), "BatchSize kept");
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(6, 3, 5, 1, 0, 0)), "ReportAndContinue kept: the rest delivered");
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Constructor_DrainTimeoutChangedAfterwards_BlockKeepsItsCopy(CancellationToken ct)
    {
        var time = new FakeTimeProvider();
        var sink = new ManualSink();
        var options = Options(time, batchSize: 2);
        var block = CreateSut(sink.Sink, options);
        options.DrainTimeout = TimeSpan.FromMilliseconds(1);
        PostAll(block, [1, 2]);
        block.Complete();
        await sink.WaitForCallsAsync(1, ct);

        time.Advance(TimeSpan.FromSeconds(1));
        sink.Ack(0).SetResult(BatchResult.AllDelivered);
        await block.Completion.WaitAsync(ct);

        Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(2, 1, 2, 0, 0, 0)));
    }

    [Test, CancelAfter(10_000)]
    public async Task Constructor_CallbacksChangedAfterwards_BlockKeepsItsCopy(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int> { FailWhen = static _ => new InvalidOperationException() };
        var original = new HandBackRecorder();
        var replacement = new HandBackRecorder();
        BatchProducerCallbacks<int> callbacks = original.Callbacks;
        var block = new BatchProducerBlock<int>(sink, Options(batchSize: 1), callbacks);

        callbacks.ItemFailed = replacement.Callbacks.ItemFailed;
        PostAll(block, [1, 2]);
        block.Complete();
        await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(original.Failed.Select(static f => f.Item), Is.EqualTo(new[] { 1, 2 }));
            Assert.That(replacement.Failed, Is.Empty);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Complete_DrainTimeoutZero_AbandonsEverythingAtOnce(CancellationToken ct)
    {
        var sink = new ManualSink();
        var handBack = new HandBackRecorder();
        var options = Options(batchSize: 10);
        options.DrainTimeout = TimeSpan.Zero;
        var block = CreateSut(sink.Sink, options, handBack);
        PostAll(block, [1, 2, 3]);

        block.Complete();
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(ex.InnerException, Is.TypeOf<TimeoutException>());
            Assert.That(handBack.Abandoned, Is.EqualTo(new[] { 1, 2, 3 }));
            AssertFinalInvariant(block.GetStatistics());
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Post_OldestItemReachesLinger_BatchSentWithoutComplete(CancellationToken ct)
    {
        var time = new FakeTimeProvider();
        var sink = new RecordingBatchSink<int>();
        var options = Options(time, batchSize: 100);
        options.Linger = TimeSpan.FromMilliseconds(50);
        var block = CreateSut(sink, options);
        PostAll(block, [1, 2, 3]);

        time.Advance(TimeSpan.FromMilliseconds(50));
        await sink.WaitForBatchesAsync(1, ct);

        Assert.That(sink.Batches, Is.EqualTo(new[] { new[] { 1, 2, 3 } }));
        block.Complete();
        await block.Completion.WaitAsync(ct);
    }
}
