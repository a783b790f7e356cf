using System.Diagnostics.Metrics;
using System.Threading.Tasks.Dataflow;
using DataflowProducer.Testing;
using DataflowProducer.Tests.TestSupport;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;

namespace DataflowProducer.Tests;

// Backpressure signals: waits for room by reason, and the messages and bytes held (observable instruments).
public class BatchProducerBlockBackpressureTelemetryTests
{
    [Test, CancelAfter(10_000)]
    public async Task Metrics_PostsAndSendsFindingNoRoom_WaitsCountedOnceEachByReason(CancellationToken ct)
    {
        using var meters = new TestMeterFactory();
        var sink = new RecordingBatchSink<int> { AcknowledgeImmediately = false };
        var block = CreateSut(sink, meters, boundedCapacity: 10, boundedBytes: 1000);
        Meter meter = meters.Meters.Single();
        using var waits = new MetricCollector<long>(meter, "dataflowproducer.backpressure.waits");

        for (int i = 0; i < 10; i++)
        {
            Assert.That(block.Post(1), Is.True);
        }

        Assert.That(block.Post(1), Is.False, "10 of 10 items held");
        Task<bool> waiting = block.SendAsync(1, ct);
        await sink.WaitForBatchesAsync(2, ct);
        sink.AcknowledgeImmediately = true;
        sink.AcknowledgeAll();
        Assert.That(await waiting.WaitAsync(ct), Is.True);
        long[] capacityWaits = [.. waits.GetMeasurementSnapshot().Where(m => Equals(m.Tags["dataflowproducer.backpressure.reason"], "capacity")).Select(m => m.Value)];
        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(capacityWaits, Is.EqualTo(new long[] { 1, 1 }), "the declined Post and the SendAsync that waited, once each");
            Assert.That(waits.Instrument!.Unit, Is.EqualTo("{wait}"));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Metrics_BytesBoundFull_WaitCountedWithReasonBytes(CancellationToken ct)
    {
        using var meters = new TestMeterFactory();
        var sink = new RecordingBatchSink<int> { AcknowledgeImmediately = false };
        var block = CreateSut(sink, meters, boundedCapacity: 1000, boundedBytes: 100);
        Meter meter = meters.Meters.Single();
        using var waits = new MetricCollector<long>(meter, "dataflowproducer.backpressure.waits");

        Assert.That(block.Post(100), Is.True);
        Assert.That(block.Post(1), Is.False, "100 of 100 bytes held");
        sink.AcknowledgeImmediately = true;
        block.Complete();
        await sink.WaitForBatchesAsync(1, ct);
        sink.AcknowledgeAll();
        await block.Completion.WaitAsync(ct);

        Assert.That(
            waits.GetMeasurementSnapshot().Select(m => (m.Value, m.Tags["dataflowproducer.backpressure.reason"])),
            Is.EqualTo(new[] { (1L, (object?)"bytes") }));
    }

    [Test, CancelAfter(10_000)]
    public async Task Metrics_ItemsAndBytesHeld_ObservedUntilOutcomesAreKnown(CancellationToken ct)
    {
        using var meters = new TestMeterFactory();
        var sink = new RecordingBatchSink<int> { AcknowledgeImmediately = false };
        var block = CreateSut(sink, meters, boundedCapacity: 1000, boundedBytes: 10_000, batchSize: 3);
        Meter meter = meters.Meters.Single();
        using var messages = new MetricCollector<long>(meter, "dataflowproducer.messages.held");
        using var bytes = new MetricCollector<long>(meter, "dataflowproducer.bytes.held");

        foreach (int item in new[] { 10, 20, 30, 40 })
        {
            Assert.That(block.Post(item), Is.True);
        }

        await sink.WaitForBatchesAsync(1, ct);
        messages.RecordObservableInstruments();
        bytes.RecordObservableInstruments();
        (long Messages, long Bytes) whileHeld = (messages.LastMeasurement!.Value, bytes.LastMeasurement!.Value);

        sink.AcknowledgeImmediately = true;
        sink.AcknowledgeAll();
        block.Complete();
        await block.Completion.WaitAsync(ct);
        messages.RecordObservableInstruments();

        Assert.Multiple(() =>
        {
            Assert.That(whileHeld, Is.EqualTo((4L, 100L)), "one batch in flight and one item being batched: 4 messages, 100 bytes");
            Assert.That(bytes.Instrument!.Unit, Is.EqualTo("By"));
            Assert.That(messages.GetMeasurementSnapshot(), Has.Count.EqualTo(1), "a finished pipeline is no longer observed");
        });
    }

    private static BatchProducerBlock<int> CreateSut(RecordingBatchSink<int> sink, IMeterFactory meters, int boundedCapacity, long boundedBytes, int batchSize = 5) =>
        new(sink, new BatchProducerOptions
        {
            BatchSize = batchSize,
            BoundedCapacity = boundedCapacity,
            BoundedBytes = boundedBytes,
            ItemSize = (Func<int, long>)(static i => i),
            Linger = TimeSpan.FromHours(1),
            TimeProvider = new FakeTimeProvider(),
            MeterFactory = meters,
        });

    [Test]
    public void SharedMeter_PipelineDroppedWithoutCompleting_IsNotKeptAlive()
    {
        WeakReference dropped = CreateAndDrop();
        for (int i = 0; i < 3 && dropped.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.That(dropped.IsAlive, Is.False, "the shared meter's observable instruments must not hold a pipeline its user let go of");
    }

    // No IMeterFactory: the pipeline reports on the process-wide shared meter.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static WeakReference CreateAndDrop() =>
        new(new BatchProducerBlock<int>(new RecordingBatchSink<int>(), new BatchProducerOptions { TimeProvider = new FakeTimeProvider() }));
}
