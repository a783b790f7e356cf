using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Tasks.Dataflow;
using DataflowProducer.Testing;
using DataflowProducer.Tests.TestSupport;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;

namespace DataflowProducer.Tests;

public class BatchProducerBlockTelemetryTests
{
    [Test, CancelAfter(10_000)]
    public async Task Metrics_RunWithSomeFailures_CountersAndHistogramsAgreeWithStatistics(CancellationToken ct)
    {
        using var meters = new TestMeterFactory();
        var sink = new RecordingBatchSink<int> { FailWhen = i => i % 10 == 3 ? new InvalidOperationException($"item {i} rejected") : null };
        var block = new BatchProducerBlock<int>(sink, new BatchProducerOptions
        {
            BatchSize = 25,
            BoundedCapacity = 1000,
            Linger = Timeout.InfiniteTimeSpan,
            TimeProvider = new FakeTimeProvider(),
            MeterFactory = meters,
            Name = "orders",
        });
        Meter meter = meters.Meters.Single();
        using var accepted = new MetricCollector<long>(meter, "dataflowproducer.messages.accepted");
        using var delivered = new MetricCollector<long>(meter, "dataflowproducer.messages.delivered");
        using var failed = new MetricCollector<long>(meter, "dataflowproducer.messages.failed");
        using var inFlight = new MetricCollector<long>(meter, "dataflowproducer.messages.in_flight");
        using var batchSize = new MetricCollector<int>(meter, "dataflowproducer.batch.size");
        using var ackDuration = new MetricCollector<double>(meter, "dataflowproducer.batch.acknowledge.duration");

        for (int i = 0; i < 100; i++)
        {
            Assert.That(block.Post(i), Is.True);
        }

        block.Complete();
        Assert.That(async () => await block.Completion.WaitAsync(ct), Throws.InstanceOf<BatchProducerException>());

        Assert.Multiple(() =>
        {
            Assert.That(meter.Name, Is.EqualTo("DataflowProducer"));
            Assert.That(Sum(accepted), Is.EqualTo(100));
            Assert.That(Sum(delivered), Is.EqualTo(90));
            Assert.That(Sum(failed), Is.EqualTo(10));
            Assert.That(failed.GetMeasurementSnapshot().Select(m => m.Tags["error.type"]), Is.All.EqualTo(typeof(InvalidOperationException).FullName));
            Assert.That(Sum(inFlight), Is.Zero, "every batch that went in flight came back");
            Assert.That(batchSize.GetMeasurementSnapshot().Select(m => m.Value), Is.EqualTo(new[] { 25, 25, 25, 25 }));
            Assert.That(ackDuration.GetMeasurementSnapshot(), Has.Count.EqualTo(4));
            Assert.That(ackDuration.Instrument!.Unit, Is.EqualTo("s"));
            Assert.That(delivered.GetMeasurementSnapshot().Select(m => m.Tags["dataflowproducer.pipeline.name"]), Is.All.EqualTo("orders"));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Metrics_Abort_AbandonedCounterMatchesHandedBackItems(CancellationToken ct)
    {
        using var meters = new TestMeterFactory();
        var sink = new RecordingBatchSink<int> { AcknowledgeImmediately = false };
        var block = new BatchProducerBlock<int>(sink, new BatchProducerOptions { BatchSize = 10, BoundedCapacity = 100, TimeProvider = new FakeTimeProvider(), MeterFactory = meters });
        using var abandoned = new MetricCollector<long>(meters.Meters.Single(), "dataflowproducer.messages.abandoned");
        using var accepted = new MetricCollector<long>(meters.Meters.Single(), "dataflowproducer.messages.accepted");
        using var notSent = new MetricCollector<long>(meters.Meters.Single(), "dataflowproducer.messages.not_sent");
        using var unknown = new MetricCollector<long>(meters.Meters.Single(), "dataflowproducer.messages.unknown");

        for (int i = 0; i < 25; i++)
        {
            Assert.That(block.Post(i), Is.True);
        }

        await sink.WaitForBatchesAsync(2, ct);
        ((IDataflowBlock)block).Fault(new InvalidOperationException("stop"));
        var error = Assert.ThrowsAsync<BatchProducerException<int>>(async () => await block.Completion.WaitAsync(ct));

        Assert.Multiple(() =>
        {
            Assert.That(Sum(abandoned), Is.EqualTo(25));
            Assert.That(error!.AbandonedItems, Has.Count.EqualTo(25));
            Assert.That(Sum(accepted), Is.EqualTo(25));
            Assert.That(Sum(unknown), Is.EqualTo(20), "the two batches the sink held");
            Assert.That(Sum(notSent), Is.EqualTo(5), "the open batch");
            Assert.That(error.UnknownItems, Is.EqualTo(Enumerable.Range(0, 20)));
            Assert.That(error.NotSentItems, Is.EqualTo(Enumerable.Range(20, 5)));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Tracing_FourBatches_OneClientSpanPerBatchWithCountAndOutcome(CancellationToken ct)
    {
        var spans = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "DataflowProducer",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity => { lock (spans) { spans.Add(activity); } },
        };
        ActivitySource.AddActivityListener(listener);

        var sink = new RecordingBatchSink<int> { FailWhen = i => i == 60 ? new InvalidOperationException("no") : null };
        string name = $"pipeline-{Guid.NewGuid():N}";
        var block = new BatchProducerBlock<int>(sink, new BatchProducerOptions { BatchSize = 25, Linger = Timeout.InfiniteTimeSpan, TimeProvider = new FakeTimeProvider(), Name = name });
        for (int i = 0; i < 100; i++)
        {
            Assert.That(block.Post(i), Is.True);
        }

        block.Complete();
        Assert.That(async () => await block.Completion.WaitAsync(ct), Throws.InstanceOf<BatchProducerException>());

        List<Activity> mine;
        lock (spans)
        {
            mine = spans.Where(a => (string?)a.GetTagItem("dataflowproducer.pipeline.name") == name).ToList();
        }

        Assert.Multiple(() =>
        {
            Assert.That(mine, Has.Count.EqualTo(4));
            Assert.That(mine.Select(a => a.Kind), Is.All.EqualTo(ActivityKind.Client));
            Assert.That(mine.Select(a => a.GetTagItem("messaging.batch.message_count")), Is.All.EqualTo(25));
            Assert.That(mine.Select(a => (string?)a.GetTagItem("dataflowproducer.outcome")), Is.EquivalentTo(new[] { "delivered", "delivered", "partial", "delivered" }));
            Assert.That(mine.Count(a => a.Status == ActivityStatusCode.Error), Is.EqualTo(1));
        });
    }

    private static long Sum(MetricCollector<long> collector) => collector.GetMeasurementSnapshot().Sum(m => m.Value);
}
