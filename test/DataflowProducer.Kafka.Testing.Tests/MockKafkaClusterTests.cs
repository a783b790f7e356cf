using Confluent.Kafka;
using DataflowProducer.Tests.Shared;

namespace DataflowProducer.Kafka.Testing.Tests;

/// <summary>The mock cluster's own contract: start, topics, fault injection, dispose. A cluster and a GUID-named topic
/// per test, since several tests take brokers down.</summary>
[Category(TestCategories.Integration)]
public class MockKafkaClusterTests
{
    private static string NewTopic() => $"mock-{Guid.NewGuid():N}";

    private static ProducerConfig ProducerConfig(MockKafkaCluster cluster) =>
        new() { BootstrapServers = cluster.BootstrapServers, MessageTimeoutMs = 5_000 };

    [Test]
    public void Start_Default_ThreeBrokersOnLoopback()
    {
        using var cluster = MockKafkaCluster.Start();

        Assert.Multiple(() =>
        {
            Assert.That(cluster.BrokerCount, Is.EqualTo(MockKafkaCluster.DefaultBrokerCount));
            Assert.That(cluster.BrokerIds, Is.EqualTo(new[] { 1, 2, 3 }));
            Assert.That(cluster.BootstrapServers.Split(','), Has.Length.EqualTo(3).And.All.StartWith("127.0.0.1:"));
        });
    }

    [TestCase(0)]
    [TestCase(-1)]
    public void Start_LessThanOneBroker_ThrowsArgumentOutOfRange(int brokerCount)
    {
        Assert.That(() => MockKafkaCluster.Start(brokerCount), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [Test, CancelAfter(60_000)]
    public async Task CreateTopic_ThenProduce_DeliveredToTheTopicsPartitions(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(brokerCount: 1);
        string topic = NewTopic();
        cluster.CreateTopic(topic, partitions: 2);
        using IProducer<Null, string> producer = new ProducerBuilder<Null, string>(ProducerConfig(cluster)).Build();

        DeliveryResult<Null, string> delivered = await producer.ProduceAsync(new TopicPartition(topic, 1), new Message<Null, string> { Value = "v" }, ct);

        Assert.Multiple(() =>
        {
            Assert.That(delivered.Status, Is.EqualTo(PersistenceStatus.Persisted));
            Assert.That(delivered.Partition.Value, Is.EqualTo(1));
            Assert.That(TopicReader.CountMessages(cluster.BootstrapServers, topic), Is.EqualTo(1));
        });
    }

    [Test]
    public void CreateTopic_Exists_ThrowsKafkaException()
    {
        using var cluster = MockKafkaCluster.Start(brokerCount: 1);
        string topic = NewTopic();
        cluster.CreateTopic(topic, partitions: 1);

        Assert.That(() => cluster.CreateTopic(topic, partitions: 1), Throws.InstanceOf<KafkaException>());
    }

    [TestCase(0, 1)]
    [TestCase(1, 0)]
    [TestCase(1, 4)]
    public void CreateTopic_PartitionsOrReplicationOutOfRange_ThrowsArgumentOutOfRange(int partitions, int replicationFactor)
    {
        using var cluster = MockKafkaCluster.Start();

        Assert.That(() => cluster.CreateTopic(NewTopic(), partitions, replicationFactor), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [TestCase(0)]
    [TestCase(4)]
    public void SetBrokerDown_UnknownBroker_ThrowsArgumentOutOfRange(int brokerId)
    {
        using var cluster = MockKafkaCluster.Start();

        Assert.That(() => cluster.SetBrokerDown(brokerId), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [Test, CancelAfter(60_000)]
    public async Task PushRequestErrors_NonRetriableProduceError_ProduceFailsWithThatError(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(brokerCount: 1);
        string topic = NewTopic();
        cluster.CreateTopic(topic, partitions: 1);
        using IProducer<Null, string> producer = new ProducerBuilder<Null, string>(ProducerConfig(cluster)).Build();
        await producer.ProduceAsync(topic, new Message<Null, string> { Value = "connects" }, ct);

        cluster.PushRequestErrors(KafkaApiKey.Produce, ErrorCode.TopicAuthorizationFailed);

        Assert.That(
            async () => await producer.ProduceAsync(topic, new Message<Null, string> { Value = "refused" }, ct),
            Throws.InstanceOf<ProduceException<Null, string>>().With.Property(nameof(ProduceException<Null, string>.Error)).Property(nameof(Error.Code)).EqualTo(ErrorCode.TopicAuthorizationFailed));
    }

    [Test, CancelAfter(60_000)]
    public async Task ClearRequestErrors_AfterPush_ProduceDelivers(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(brokerCount: 1);
        string topic = NewTopic();
        cluster.CreateTopic(topic, partitions: 1);
        using IProducer<Null, string> producer = new ProducerBuilder<Null, string>(ProducerConfig(cluster)).Build();
        await producer.ProduceAsync(topic, new Message<Null, string> { Value = "connects" }, ct);
        cluster.PushRequestErrors(KafkaApiKey.Produce, ErrorCode.TopicAuthorizationFailed, ErrorCode.TopicAuthorizationFailed);

        cluster.ClearRequestErrors(KafkaApiKey.Produce);

        DeliveryResult<Null, string> delivered = await producer.ProduceAsync(topic, new Message<Null, string> { Value = "accepted" }, ct);
        Assert.That(delivered.Status, Is.EqualTo(PersistenceStatus.Persisted));
    }

    [Test, CancelAfter(60_000)]
    public async Task SetAllBrokersDown_ThenUp_ProduceTimesOutThenDelivers(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start();
        string topic = NewTopic();
        cluster.CreateTopic(topic, partitions: 1);
        var config = ProducerConfig(cluster);
        config.MessageTimeoutMs = 1_000;
        using IProducer<Null, string> producer = new ProducerBuilder<Null, string>(config).Build();
        await producer.ProduceAsync(topic, new Message<Null, string> { Value = "connects" }, ct);

        cluster.SetAllBrokersDown();
        Exception? whileDown = null;
        try
        {
            await producer.ProduceAsync(topic, new Message<Null, string> { Value = "while down" }, ct);
        }
        catch (ProduceException<Null, string> ex)
        {
            whileDown = ex;
        }

        cluster.SetAllBrokersUp();
        config.MessageTimeoutMs = 30_000;
        using IProducer<Null, string> after = new ProducerBuilder<Null, string>(config).Build();
        DeliveryResult<Null, string> delivered = await after.ProduceAsync(topic, new Message<Null, string> { Value = "after" }, ct);

        Assert.Multiple(() =>
        {
            Assert.That(whileDown, Is.InstanceOf<ProduceException<Null, string>>().With.Property(nameof(ProduceException<Null, string>.Error)).Property(nameof(Error.Code)).EqualTo(ErrorCode.Local_MsgTimedOut));
            Assert.That(delivered.Status, Is.EqualTo(PersistenceStatus.Persisted));
        });
    }

    [Test]
    public void Dispose_ThenCreateTopic_ThrowsObjectDisposed()
    {
        var cluster = MockKafkaCluster.Start(brokerCount: 1);

        cluster.Dispose();
        cluster.Dispose();

        Assert.That(() => cluster.CreateTopic(NewTopic(), partitions: 1), Throws.InstanceOf<ObjectDisposedException>());
    }
}
