using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Tests.TestSupport;
using NSubstitute;

namespace DataflowProducer.Kafka.Tests;

/// <summary>The Kafka sink's default size for <see cref="BatchProducerOptions.BoundedBytes"/>: key + value + headers.</summary>
public partial class KafkaBatchSinkTests
{
    [Test, CancelAfter(10_000)]
    public async Task ItemSize_BytesBoundWithoutItemSize_RecordsMeasuredAsKeyValueAndHeaders(CancellationToken ct)
    {
        _stub.React = static (_, _) => Reaction.Hold;
        var block = KafkaProducerBlock.Create(
            _stub.Producer,
            new KafkaSinkOptions<string, string> { DefaultTopic = "t" },
            new BatchProducerOptions { BatchSize = 1, BoundedBytes = 1000, DrainTimeout = TimeSpan.FromSeconds(30), TimeProvider = _time });
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
}
