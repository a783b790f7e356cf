using System.Diagnostics.Metrics;
using DataflowProducer.Tests.TestSupport;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using NSubstitute;

namespace DataflowProducer.Tests;

// Adaptive batching through the whole block: a sink whose acknowledgements the test completes by hand on a fake
// clock, and the sizes of the batches the sink receives. Each round posts items, waits for the batch, lets the clock
// run (the batch's acknowledgement latency), acknowledges it, and waits until the block has measured the
// acknowledgement (the limits are decided before that measurement), so the next round's items meet the new limits.
public partial class BatchProducerBlockTests
{
    private const int BatchLimitsChangedId = 1013;

    private static BatchProducerOptions AdaptiveOptions(FakeTimeProvider time, IMeterFactory meters, int maxInFlightBatches = 1, bool adaptive = true)
    {
        BatchProducerOptions options = Options(time, batchSize: 10, boundedCapacity: 1000, maxInFlightBatches: maxInFlightBatches);
        options.Linger = Timeout.InfiniteTimeSpan;
        options.MeterFactory = meters;
        options.Adaptive = adaptive
            ? new AdaptiveBatchingOptions
            {
                SlowLatency = TimeSpan.FromMilliseconds(100),
                RecoveredLatency = TimeSpan.FromMilliseconds(25),
                Factor = 4,
                MaxBatchSize = 100,
                Window = TimeSpan.FromSeconds(1),
                CoolDown = TimeSpan.FromSeconds(2),
            }
            : null;
        return options;
    }

    private sealed class AdaptiveRig : IDisposable
    {
        private readonly MetricCollector<double> _acknowledged;
        private int _rounds;
        private int _calls;

        public AdaptiveRig(bool adaptive = true, int maxInFlightBatches = 1, FakeLogger<BatchProducerBlock<int>>? logger = null)
        {
            _acknowledged = new MetricCollector<double>(Meters, "DataflowProducer", "dataflowproducer.batch.acknowledge.duration");
            SizeLimit = new MetricCollector<int>(Meters, "DataflowProducer", "dataflowproducer.batch.size.limit");
            LingerLimit = new MetricCollector<double>(Meters, "DataflowProducer", "dataflowproducer.batch.linger.limit");
            Changes = new MetricCollector<long>(Meters, "DataflowProducer", "dataflowproducer.batch.limit.changes");
            Options = AdaptiveOptions(Time, Meters, maxInFlightBatches, adaptive);
            Block = CreateSut(Sink.Sink, Options, logger: logger);
        }

        public FakeTimeProvider Time { get; } = new();

        public TestMeterFactory Meters { get; } = new();

        public ManualSink Sink { get; } = new();

        public BatchProducerOptions Options { get; }

        public BatchProducerBlock<int> Block { get; }

        public MetricCollector<int> SizeLimit { get; }

        public MetricCollector<double> LingerLimit { get; }

        public MetricCollector<long> Changes { get; }

        public IEnumerable<int> BatchSizes => Sink.Batches.Select(b => b.Length);

        // Posts count items and, for each of the batches they make, waits for it, acknowledges it after latency, and
        // waits until it is measured.
        public async Task RoundAsync(int count, TimeSpan latency, CancellationToken ct, TimeSpan? idleBefore = null, int batches = 1)
        {
            if (idleBefore is { } idle)
            {
                Time.Advance(idle);
            }

            int first = _calls;
            PostAll(Block, Enumerable.Range(_rounds * 1000, count));
            _rounds++;
            for (int call = first; call < first + batches; call++)
            {
                await Sink.WaitForCallsAsync(call + 1, ct);
                Time.Advance(latency);
                Sink.Ack(call).SetResult(BatchResult.AllDelivered);
                await _acknowledged.WaitForMeasurementsAsync(call + 1).WaitAsync(ct);
            }

            _calls += batches;
        }

        // Every round's batches are acknowledged and nothing is left open (the rounds post whole batches).
        public async Task FinishAsync(CancellationToken ct)
        {
            Sink.AutoAcknowledge = _ => BatchResult.AllDelivered;
            Block.Complete();
            await Block.Completion.WaitAsync(ct);
        }

        public void Dispose()
        {
            _acknowledged.Dispose();
            SizeLimit.Dispose();
            LingerLimit.Dispose();
            Changes.Dispose();
            Meters.Dispose();
        }
    }

    private static readonly TimeSpan SlowAck = TimeSpan.FromSeconds(2);   // past the window and the cool-down too

    [Test]
    public void Adaptive_Default_IsOff()
    {
        Assert.That(new BatchProducerOptions().Adaptive, Is.Null);
    }

    [Test, CancelAfter(10_000)]
    public async Task Adaptive_SlowAcknowledgementsUnderPressure_BatchesGrowByTheFactorUpToMaxBatchSize(CancellationToken ct)
    {
        using var rig = new AdaptiveRig();

        await rig.RoundAsync(10, SlowAck, ct);
        await rig.RoundAsync(40, SlowAck, ct);
        await rig.RoundAsync(100, SlowAck, ct);
        await rig.RoundAsync(100, SlowAck, ct);
        await rig.FinishAsync(ct);

        Assert.That(rig.BatchSizes, Is.EqualTo(new[] { 10, 40, 100, 100 }), "10, x4, then clamped at MaxBatchSize 100 (not 160)");
    }

    [Test, CancelAfter(10_000)]
    public async Task Adaptive_SlowAcknowledgementAfterComplete_LimitsStayAsTheyAre(CancellationToken ct)
    {
        // The same slow, pressed acknowledgement that grows the batches in a running pipeline (above), after Complete.
        using var rig = new AdaptiveRig();
        PostAll(rig.Block, Enumerable.Range(0, 10));
        await rig.Sink.WaitForCallsAsync(1, ct);

        rig.Block.Complete();
        rig.Time.Advance(SlowAck);
        rig.Sink.Ack(0).SetResult(BatchResult.AllDelivered);
        await rig.Block.Completion.WaitAsync(ct);

        Assert.That(rig.Changes.GetMeasurementSnapshot(), Is.Empty, "a completing block accepts nothing more: no limit changes");
    }

    [Test, CancelAfter(10_000)]
    public async Task Adaptive_Recovered_BatchesBackToTheFloor(CancellationToken ct)
    {
        using var rig = new AdaptiveRig();

        await rig.RoundAsync(10, SlowAck, ct);
        await rig.RoundAsync(40, TimeSpan.Zero, ct, idleBefore: SlowAck);
        await rig.RoundAsync(10, TimeSpan.Zero, ct);
        await rig.FinishAsync(ct);

        Assert.That(rig.BatchSizes, Is.EqualTo(new[] { 10, 40, 10 }));
    }

    [Test, CancelAfter(10_000)]
    public async Task Adaptive_SlowWithinTheCoolDown_NoSecondChangeUntilItHasPassed(CancellationToken ct)
    {
        using var rig = new AdaptiveRig();
        TimeSpan window = TimeSpan.FromSeconds(1);

        await rig.RoundAsync(10, window, ct);   // t = 1 s: grows to 40
        await rig.RoundAsync(40, window, ct);   // t = 2 s: slow, but 1 s after the change
        await rig.RoundAsync(40, window, ct);   // t = 3 s: 2 s after it, grows to 100
        await rig.RoundAsync(100, window, ct);
        await rig.FinishAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(rig.BatchSizes, Is.EqualTo(new[] { 10, 40, 40, 100 }));
            Assert.That(rig.Changes.GetMeasurementSnapshot(), Has.Count.EqualTo(2));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Adaptive_Off_SlowAcknowledgementsNeverChangeTheBatchSize(CancellationToken ct)
    {
        using var rig = new AdaptiveRig(adaptive: false);

        await rig.RoundAsync(10, SlowAck, ct);
        await rig.RoundAsync(40, SlowAck, ct, batches: 4);
        await rig.RoundAsync(40, SlowAck, ct, batches: 4);
        await rig.FinishAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(rig.BatchSizes, Is.All.EqualTo(10));
            Assert.That(rig.BatchSizes.Count(), Is.EqualTo(9));
            Assert.That(rig.SizeLimit.GetMeasurementSnapshot(), Is.Empty);
            Assert.That(rig.Changes.GetMeasurementSnapshot(), Is.Empty);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Adaptive_SlowWithoutPressure_KeepsTheBatchSize(CancellationToken ct)
    {
        // Eight batches may be in flight and only one is: the window is never full and nobody waits for room.
        using var rig = new AdaptiveRig(maxInFlightBatches: 8);

        await rig.RoundAsync(10, SlowAck, ct);
        await rig.RoundAsync(10, SlowAck, ct);
        await rig.RoundAsync(10, SlowAck, ct);
        await rig.RoundAsync(40, SlowAck, ct, batches: 4);
        await rig.FinishAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(rig.BatchSizes, Is.All.EqualTo(10));
            Assert.That(rig.Changes.GetMeasurementSnapshot(), Is.Empty);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Adaptive_EachChange_LogsBatchLimitsChangedAndRecordsLimitsAndChanges(CancellationToken ct)
    {
        var logger = new FakeLogger<BatchProducerBlock<int>>();
        using var rig = new AdaptiveRig(logger: logger);

        await rig.RoundAsync(10, SlowAck, ct);
        await rig.RoundAsync(40, TimeSpan.Zero, ct, idleBefore: SlowAck);
        await rig.FinishAsync(ct);

        FakeLogRecord[] changes = Records(logger, BatchLimitsChangedId);
        Assert.That(changes, Has.Length.EqualTo(2));
        Assert.Multiple(() =>
        {
            Assert.That(changes[0].Level, Is.EqualTo(Microsoft.Extensions.Logging.LogLevel.Information));
            Assert.That(changes[0].Id.Name, Is.EqualTo("BatchLimitsChanged"));
            Assert.That(changes[0].GetStructuredStateValue("OldBatchSize"), Is.EqualTo("10"));
            Assert.That(changes[0].GetStructuredStateValue("NewBatchSize"), Is.EqualTo("40"));
            Assert.That(changes[0].GetStructuredStateValue("Reason"), Does.StartWith("slow: mean acknowledgement latency 2000 ms over 1 batch(es), 1 under pressure"));
            Assert.That(changes[1].GetStructuredStateValue("OldBatchSize"), Is.EqualTo("40"));
            Assert.That(changes[1].GetStructuredStateValue("NewBatchSize"), Is.EqualTo("10"));
            Assert.That(changes[1].GetStructuredStateValue("Reason"), Does.StartWith("recovered: mean acknowledgement latency 0 ms"));
            Assert.That(rig.SizeLimit.GetMeasurementSnapshot().Select(m => m.Value), Is.EqualTo(new[] { 10, 40, 10 }), "at the start and at each change");
            Assert.That(rig.SizeLimit.Instrument!.Unit, Is.EqualTo("{message}"));
            Assert.That(rig.LingerLimit.GetMeasurementSnapshot(), Is.Empty, "count-only: there is no linger to adapt");
            Assert.That(rig.Changes.GetMeasurementSnapshot().Select(m => m.Tags["dataflowproducer.batch.limit.direction"]), Is.EqualTo(new[] { "grow", "shrink" }));
            Assert.That(rig.Changes.GetMeasurementSnapshot().Select(m => m.Value), Is.All.EqualTo(1));
        });
    }

    [TestCase("SlowLatency", "00:00:00")]
    [TestCase("RecoveredLatency", "00:00:00.1000000")]
    [TestCase("RecoveredLatencyNegative", "-00:00:00.0010000")]
    [TestCase("Factor", "1")]
    [TestCase("MaxBatchSize", "5")]
    [TestCase("MaxBatchSizeOverCapacity", "5000")]
    [TestCase("MaxLinger", "00:00:00.0100000")]
    [TestCase("Window", "00:00:00")]
    [TestCase("CoolDown", "-00:00:01")]
    public void Constructor_AdaptiveSettingOutOfRange_ThrowsNamingSettingAndValue(string setting, string shown)
    {
        var adaptive = new AdaptiveBatchingOptions { MaxBatchSize = 1000 };
        string name = setting;
        switch (setting)
        {
            case "SlowLatency": adaptive.SlowLatency = TimeSpan.Zero; break;
            case "RecoveredLatency": adaptive.RecoveredLatency = TimeSpan.FromMilliseconds(100); break;
            case "RecoveredLatencyNegative": adaptive.RecoveredLatency = TimeSpan.FromMilliseconds(-1); name = "RecoveredLatency"; break;
            case "Factor": adaptive.Factor = 1; break;
            case "MaxBatchSize": adaptive.MaxBatchSize = 5; break;
            case "MaxBatchSizeOverCapacity": adaptive.MaxBatchSize = 5000; name = "BoundedCapacity"; break;
            case "MaxLinger": adaptive.MaxLinger = TimeSpan.FromMilliseconds(10); break;
            case "Window": adaptive.Window = TimeSpan.Zero; break;
            case "CoolDown": adaptive.CoolDown = TimeSpan.FromSeconds(-1); break;
            default: Assert.Fail(setting); break;
        }

        BatchProducerOptions options = Options(batchSize: 10, boundedCapacity: 1000);
        options.Linger = TimeSpan.FromMilliseconds(50);
        options.Adaptive = adaptive;

        Assert.Multiple(() =>
        {
            Assert.That(
                () => CreateSut(Substitute.For<IBatchSink<int>>(), options),
                Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contain("BatchProducerOptions.Adaptive.").And.Message.Contain(name).And.Message.Contain(shown));
            Assert.That(options.Validate(), Has.Count.EqualTo(1));
        });
    }

    [Test]
    public void Validate_AdaptiveDefaultsWithDefaultOptions_NoError()
    {
        Assert.That(new BatchProducerOptions { Adaptive = new AdaptiveBatchingOptions() }.Validate(), Is.Empty);
    }

    [Test]
    public void Validate_CountOnlyPipeline_MaxLingerNotChecked()
    {
        var options = new BatchProducerOptions { Linger = Timeout.InfiniteTimeSpan, Adaptive = new AdaptiveBatchingOptions { MaxLinger = TimeSpan.FromMilliseconds(1) } };

        Assert.That(options.Validate(), Is.Empty);
    }

    [Test, CancelAfter(10_000)]
    public async Task Constructor_AdaptiveOptionsChangedAfterwards_BlockKeepsItsCopy(CancellationToken ct)
    {
        using var rig = new AdaptiveRig();
        rig.Options.Adaptive!.Factor = 2;
        rig.Options.Adaptive.MaxBatchSize = 20;

        await rig.RoundAsync(10, SlowAck, ct);
        await rig.RoundAsync(40, SlowAck, ct);
        await rig.FinishAsync(ct);

        Assert.That(rig.BatchSizes, Is.EqualTo(new[] { 10, 40 }), "factor 4 up to 100, as when the block was built");
    }
}
