using System.Text;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Testing;

namespace DataflowProducer.Kafka.Tests.Integration;

[Category("Integration")]
public class MockClusterSmokeTests
{
    [Test, CancelAfter(60_000)]
    public async Task Create_5000KeyedRecords_AllReadBackOncePerPartitionInOrder(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        string topic = $"smoke-{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, 4);

        var block = KafkaProducerBlock.Create(
            new ProducerConfig { BootstrapServers = cluster.BootstrapServers, LingerMs = 5 },
            new KafkaSinkOptions<string, string> { DefaultTopic = topic },
            new BatchProducerOptions { BatchSize = 500, Linger = TimeSpan.FromMilliseconds(20) });

        for (int i = 0; i < 5000; i++)
        {
            Assert.That(await block.SendAsync(new KafkaRecord<string, string>($"k{i % 17}", $"v{i}"), ct), Is.True);
        }

        block.Complete();
        await block.Completion.WaitAsync(ct);

        var read = TopicReader.ReadAll(cluster.BootstrapServers, topic, TimeSpan.FromSeconds(30));
        var values = read.Select(r => Encoding.UTF8.GetString(r.Message.Value!)).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(block.GetStatistics().Delivered, Is.EqualTo(5000));
            Assert.That(values, Is.EquivalentTo(Enumerable.Range(0, 5000).Select(i => $"v{i}")));
        });
    }
}
