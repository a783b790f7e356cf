using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Kafka.Tests.TestSupport;
using DataflowProducer.Tests.Shared;

namespace DataflowProducer.Kafka.Tests.Integration;

/// <summary>The bytes bound end to end on the mock cluster: the Kafka sink's default size, batches cut by
/// MaxBatchBytes, every record read back, and the bytes held never above the bound.</summary>
[Category(TestCategories.Integration)]
public class BoundedBytesMockClusterTests() : MockClusterFixture("bytes")
{
    private const int Records = 400;
    private const int ValueSize = 10_000;
    private const long Bound = 100_000;

    [Test, CancelAfter(120_000)]
    public async Task Create_BoundedBytesAndMaxBatchBytes_EveryRecordDeliveredBytesHeldWithinTheBound(CancellationToken ct)
    {
        var block = KafkaProducerBlock.Create(
            new ProducerConfig { BootstrapServers = Cluster.BootstrapServers, LingerMs = 5 },
            new KafkaSinkOptions<string, byte[]> { DefaultTopic = Topic },
            new BatchProducerOptions { BatchSize = 1000, Linger = TimeSpan.FromMilliseconds(20), BoundedBytes = Bound, MaxBatchBytes = 4 * ValueSize });
        long peak = 0;

        for (int i = 0; i < Records; i++)
        {
            Assert.That(await block.SendAsync(new KafkaRecord<string, byte[]>($"k{i % 7}", new byte[ValueSize]), ct), Is.True);
            peak = Math.Max(peak, block.GetStatistics().BytesHeld);
        }

        block.Complete();
        await block.Completion.WaitAsync(ct);
        BatchProducerStatistics s = block.GetStatistics();
        var read = TopicReader.ReadAll(Cluster.BootstrapServers, Topic, Deserializers.Utf8, Deserializers.ByteArray, TimeSpan.FromSeconds(60));

        Assert.Multiple(() =>
        {
            Assert.That((s.Accepted, s.Delivered, s.BytesHeld), Is.EqualTo(((long)Records, (long)Records, 0L)));
            Assert.That(peak, Is.InRange(1, Bound), "never more bytes held than the bound");
            Assert.That(s.Batches, Is.GreaterThanOrEqualTo(Records / 3), "batches of at most 3 records (4 would pass MaxBatchBytes with the keys)");
            Assert.That(read, Has.Count.EqualTo(Records));
        });
    }
}
