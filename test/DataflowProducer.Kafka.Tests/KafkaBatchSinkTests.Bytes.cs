using System.Diagnostics.Metrics;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Tests.TestSupport;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using NSubstitute;

namespace DataflowProducer.Kafka.Tests;

/// <summary>The Kafka sink's default size for <see cref="BatchProducerOptions.BoundedBytes"/> (key + value + headers),
/// and its client-queue waits on the pipeline's backpressure counter.</summary>
public partial class KafkaBatchSinkTests
{
    [Test, CancelAfter(10_000)]
    public async Task ItemSize_BytesBoundWithoutItemSize_RecordsMeasuredAsKeyValueAndHeaders(CancellationToken ct)
    {
        _stub.React = static (_, _) => Reaction.Hold;
        var block = KafkaProducerBlock.Create(
            _stub.Producer,
            new KafkaSinkOptions<string, string> { DefaultTopic = "t" },
            new BatchProducerOptions { BatchSize = 1, BoundedBytes = 1000, DrainTimeout = Timeout.InfiniteTimeSpan, TimeProvider = _time });
        var record = new KafkaRecord<string, string>("ab", "xyz") { Headers = [new Header("h", [1, 2, 3])] };

        Assert.That(block.Post(record), Is.True);
        await _stub.WhenAttempts(1).WaitAsync(ct);
        long held = block.GetStatistics().BytesHeld;
        _stub.Report(0);
        block.Complete();
        await AdvanceUntilCompleted(block.Completion, ct);

        Assert.Multiple(() =>
        {
            Assert.That(held, Is.EqualTo((2 * 2) + (2 * 3) + ((2 * 1) + 3)), "key and value two bytes a character, the header's key and value");
            Assert.That(block.GetStatistics().BytesHeld, Is.Zero, "released with the delivery");
            Assert.That(block.GetStatistics().Delivered, Is.EqualTo(1));
        });
    }

    [Test]
    public void ItemSize_BytesBoundWithAValueTypeItCannotMeasure_ConstructorAsksForItemSize()
    {
        var producer = Substitute.For<IProducer<string, List<int>>>();

        Assert.That(
            () => KafkaProducerBlock.Create(producer, new KafkaSinkOptions<string, List<int>> { DefaultTopic = "t" }, new BatchProducerOptions { BoundedBytes = 1000 }),
            Throws.ArgumentNullException.With.Message.Contains("BatchProducerOptions.ItemSize"));
    }

    [Test, CancelAfter(10_000)]
    public async Task Attach_QueueFullForTwoRecords_TwoClientQueueWaitsHoweverManyRetries(CancellationToken ct)
    {
        // v1 is refused three times, v3 once: two waits.
        int refusedV1 = 0;
        _stub.React = (_, m) => (m.Value == "v1" && Interlocked.Increment(ref refusedV1) <= 3) || (m.Value == "v3" && refusedV1 == 4 && Interlocked.Increment(ref refusedV1) == 5)
            ? Reaction.QueueFull(m)
            : Reaction.Deliver;
        using var meter = new Meter("DataflowProducer");
        var meters = Substitute.For<IMeterFactory>();
        meters.Create(Arg.Any<MeterOptions>()).Returns(meter);
        using var waits = new MetricCollector<long>(meter, "dataflowproducer.backpressure.waits");
        var block = KafkaProducerBlock.Create(
            _stub.Producer,
            new KafkaSinkOptions<string, string> { DefaultTopic = "t" },
            new BatchProducerOptions { BatchSize = 5, DrainTimeout = Timeout.InfiniteTimeSpan, TimeProvider = _time, MeterFactory = meters });

        foreach (KafkaRecord<string, string> record in Records.Create(5, topic: null))
        {
            Assert.That(block.Post(record), Is.True);
        }

        // No drain timeout: the fake clock is moved only to let the queue-full retries run, and cannot end the drain.
        block.Complete();
        await AdvanceUntilCompleted(block.Completion, ct);

        Assert.Multiple(() =>
        {
            Assert.That(waits.GetMeasurementSnapshot().Select(m => (m.Value, m.Tags["dataflowproducer.backpressure.reason"])), Is.EqualTo(new[] { (1L, (object?)"client_queue"), (1L, "client_queue") }));
            Assert.That(block.GetStatistics().Delivered, Is.EqualTo(5));
            Assert.That(_stub.Attempts, Has.Count.EqualTo(9), "v1 tried four times, v3 twice");
        });
    }
}
