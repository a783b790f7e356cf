using Confluent.Kafka;
using DataflowProducer.Tests.Shared;

namespace DataflowProducer.Kafka.Tests.RealBroker;

/// <summary>Ensuring a topic against a real broker. The embedded Kafka 0.9.0.1 has no admin requests (CreateTopics
/// came in 0.10.1, DescribeConfigs in 0.11, CreatePartitions in 1.0) and auto-creates a topic (4 partitions here) when
/// its metadata is asked for: a topic is verified through metadata, and what needs an admin request fails with a
/// message that names it. Against KAFKA_BOOTSTRAP_SERVERS (a modern cluster) the same calls create the topic.</summary>
[Category(TestCategories.RealBroker)]
public class EnsureTopicRealBrokerTests
{
    private const int AutoCreatedPartitions = 4;
    private static readonly TimeSpan AdminTimeout = TimeSpan.FromSeconds(5);

    private RealKafkaBroker _broker = null!;
    private string _topic = null!;

    [SetUp]
    public void SetUp()
    {
        _broker = RealBrokerSetUp.Broker;
        _topic = $"rb-ensure-{Guid.NewGuid():N}";
    }

    private ProducerConfig Config()
    {
        var config = new ProducerConfig { BootstrapServers = _broker.BootstrapServers };
        _broker.ApplyClientSettings(config);
        return config;
    }

    private EnsureTopicOptions Options(int partitions) => new() { Topic = _topic, Partitions = partitions, Timeout = AdminTimeout };

    [Test, CancelAfter(120_000)]
    public async Task EnsureAsync_MissingTopic_CreatedByTheBrokerOrByCreateTopicsThenVerified(CancellationToken ct)
    {
        EnsureTopicResult result = await KafkaTopics.EnsureAsync(Config(), Options(AutoCreatedPartitions), cancellationToken: ct);

        // A 0.9 broker creates the topic itself when the metadata request names it (metadata v0 cannot say not to).
        Assert.Multiple(() =>
        {
            Assert.That(result.Outcome, Is.EqualTo(_broker.IsEmbedded ? EnsureTopicOutcome.Matched : EnsureTopicOutcome.Created));
            Assert.That(result.Partitions, Is.EqualTo(AutoCreatedPartitions));
        });

        EnsureTopicResult again = await KafkaTopics.EnsureAsync(Config(), Options(AutoCreatedPartitions), cancellationToken: ct);
        Assert.That(again.Outcome, Is.EqualTo(EnsureTopicOutcome.Matched));
    }

    [Test, CancelAfter(120_000)]
    public async Task EnsureAsync_ConfigsOnThe09Broker_FailNamingDescribeConfigsAndItsKafkaVersion(CancellationToken ct)
    {
        EnsureTopicOptions options = Options(AutoCreatedPartitions);
        options.Configs["retention.ms"] = "86400000";

        if (!_broker.IsEmbedded)
        {
            EnsureTopicResult created = await KafkaTopics.EnsureAsync(Config(), options, cancellationToken: ct);
            Assert.That(created.Outcome, Is.EqualTo(EnsureTopicOutcome.Created));
            return;
        }

        var error = Assert.ThrowsAsync<KafkaTopicException>(() => KafkaTopics.EnsureAsync(Config(), options, cancellationToken: ct));

        TestContext.Out.WriteLine(error!.Message);
        Assert.That(error.Message, Does.Contain($"topic '{_topic}'").And.Contain("DescribeConfigs (Kafka 0.11+)").And.Contain("retention.ms=86400000"));
    }

    [Test, CancelAfter(120_000)]
    public async Task EnsureAsync_PartitionGrowthOnThe09Broker_FailsNamingCreatePartitionsAndItsKafkaVersion(CancellationToken ct)
    {
        await KafkaTopics.EnsureAsync(Config(), Options(AutoCreatedPartitions), cancellationToken: ct);
        EnsureTopicOptions options = Options(AutoCreatedPartitions + 2);
        options.AllowPartitionGrowth = true;

        if (!_broker.IsEmbedded)
        {
            EnsureTopicResult grown = await KafkaTopics.EnsureAsync(Config(), options, cancellationToken: ct);
            Assert.That(grown.Outcome, Is.EqualTo(EnsureTopicOutcome.Altered));
            return;
        }

        var error = Assert.ThrowsAsync<KafkaTopicException>(() => KafkaTopics.EnsureAsync(Config(), options, cancellationToken: ct));

        TestContext.Out.WriteLine(error!.Message);
        Assert.That(error.Message, Does.Contain($"topic '{_topic}'").And.Contain("CreatePartitions (Kafka 1.0+)").And.Contain("Partitions 6"));
    }
}
