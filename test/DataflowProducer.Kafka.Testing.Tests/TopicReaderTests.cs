using Confluent.Kafka;
using DataflowProducer.Tests.Shared;

namespace DataflowProducer.Kafka.Testing.Tests;

/// <summary>Reading a topic back from the mock cluster: one cluster for the fixture, a GUID-named topic per test.</summary>
[Category(TestCategories.Integration)]
public class TopicReaderTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private MockKafkaCluster _cluster = null!;

    [OneTimeSetUp]
    public void OneTimeSetUp() => _cluster = MockKafkaCluster.Start();

    [OneTimeTearDown]
    public void OneTimeTearDown() => _cluster.Dispose();

    private string CreateTopic(int partitions)
    {
        string topic = $"reader-{Guid.NewGuid():N}";
        _cluster.CreateTopic(topic, partitions);
        return topic;
    }

    [Test, CancelAfter(60_000)]
    public void ReadAll_Deserializers_EveryMessageOnceOrderedByPartitionThenOffset()
    {
        string topic = CreateTopic(partitions: 3);
        Produced.Messages(_cluster.BootstrapServers, topic, 200);

        var read = TopicReader.ReadAll(_cluster.BootstrapServers, topic, Deserializers.Utf8, Deserializers.Utf8, Timeout);

        var order = read.Select(r => (r.Partition.Value, r.Offset.Value)).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(read.Select(r => r.Message.Value), Is.EquivalentTo(Enumerable.Range(0, 200).Select(i => $"v{i}")));
            Assert.That(order, Is.EqualTo(order.OrderBy(p => p.Item1).ThenBy(p => p.Item2)), "ordered by partition, then offset");
            Assert.That(read.Select(r => r.Partition.Value).Distinct().Count(), Is.GreaterThan(1), "the keys spread over partitions: the order check proves something");
        });
    }

    [Test, CancelAfter(60_000)]
    public void ReadAll_RawBytes_KeysAndValuesAsProduced()
    {
        string topic = CreateTopic(partitions: 1);
        Produced.Messages(_cluster.BootstrapServers, topic, 3);

        var read = TopicReader.ReadAll(_cluster.BootstrapServers, topic, Timeout);

        Assert.That(read.Select(r => (r.Message.Key, r.Message.Value)), Is.EqualTo(new[]
        {
            ("k0"u8.ToArray(), "v0"u8.ToArray()),
            ("k1"u8.ToArray(), "v1"u8.ToArray()),
            ("k2"u8.ToArray(), "v2"u8.ToArray()),
        }));
    }

    [Test, CancelAfter(60_000)]
    public void ReadAll_EmptyTopic_ReturnsNothing()
    {
        string topic = CreateTopic(partitions: 2);

        Assert.That(TopicReader.ReadAll(_cluster.BootstrapServers, topic, Timeout), Is.Empty);
    }

    [Test, CancelAfter(60_000)]
    public void CountMessagesAndSumHighWatermarks_ProducedMessages_BothEqualTheCount()
    {
        string topic = CreateTopic(partitions: 4);
        Produced.Messages(_cluster.BootstrapServers, topic, 321);

        Assert.Multiple(() =>
        {
            Assert.That(TopicReader.CountMessages(_cluster.BootstrapServers, topic), Is.EqualTo(321));
            Assert.That(TopicReader.CountMessages(new ClientConfig { BootstrapServers = _cluster.BootstrapServers }, topic, Timeout), Is.EqualTo(321));
            Assert.That(TopicReader.SumHighWatermarks(_cluster.BootstrapServers, topic, Timeout), Is.EqualTo(321));
        });
    }

    [Test, CancelAfter(60_000)]
    public void CountMessages_MissingTopic_ThrowsKafkaExceptionAndDoesNotCreateIt()
    {
        string topic = $"missing-{Guid.NewGuid():N}";

        Assert.That(() => TopicReader.CountMessages(_cluster.BootstrapServers, topic), Throws.InstanceOf<KafkaException>().With.Message.Contain(topic));
        Assert.That(() => TopicReader.ReadAll(_cluster.BootstrapServers, topic, Timeout), Throws.InstanceOf<KafkaException>(), "still missing: the first query did not create it");
    }

    [Test]
    public void ReadAll_TimeoutNotPositive_ThrowsArgumentOutOfRange()
    {
        Assert.That(() => TopicReader.ReadAll(_cluster.BootstrapServers, "any", TimeSpan.Zero), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }
}
