using System.Diagnostics;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Tests.TestSupport;
using DataflowProducer.Tests.Shared;
using Microsoft.Extensions.Logging.Testing;

namespace DataflowProducer.Kafka.Tests.Integration;

/// <summary>Ensuring a topic against librdkafka's mock cluster, which answers metadata but no admin request: its
/// request handlers have no CreateTopics, DescribeConfigs, CreatePartitions or (Incremental)AlterConfigs (and
/// <c>rd_kafka_mock_set_apiversion</c> only narrows the versions of handled requests), and its Metadata response names
/// controller 0, a broker that does not exist (ids start at 1), so librdkafka waits for the controller until the
/// request times out. An existing topic is verified through metadata, and what needs an admin request fails at the
/// timeout with a message that says so.</summary>
[Category(TestCategories.Integration)]
public class EnsureTopicMockClusterTests() : MockClusterFixture("ensure")
{
    private static readonly TimeSpan AdminTimeout = TimeSpan.FromSeconds(5);

    private ProducerConfig Config() => new() { BootstrapServers = Cluster.BootstrapServers, LingerMs = 5 };

    private ErrorCode MetadataError(string topic)
    {
        using IAdminClient admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = Cluster.BootstrapServers, AllowAutoCreateTopics = false }).Build();
        return admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single().Error.Code;
    }

    [Test, CancelAfter(60_000)]
    public async Task EnsureAsync_ExistingTopicWithTheAskedPartitions_MatchedThroughMetadata(CancellationToken ct)
    {
        var collector = new FakeLogCollector();

        EnsureTopicResult result = await KafkaTopics.EnsureAsync(Config(), new EnsureTopicOptions { Topic = Topic, Partitions = 4, ReplicationFactor = 1 }, new FakeLogger(collector), ct);

        Assert.Multiple(() =>
        {
            Assert.That(result.Outcome, Is.EqualTo(EnsureTopicOutcome.Matched));
            Assert.That(result.Partitions, Is.EqualTo(4));
            Assert.That(collector.GetSnapshot().Select(r => r.Id.Id), Does.Contain(2202));
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task EnsureAsync_ExistingTopicWithMorePartitions_DiffersNotAnError(CancellationToken ct)
    {
        EnsureTopicResult result = await KafkaTopics.EnsureAsync(Config(), new EnsureTopicOptions { Topic = Topic, Partitions = 2 }, cancellationToken: ct);

        Assert.Multiple(() =>
        {
            Assert.That(result.Outcome, Is.EqualTo(EnsureTopicOutcome.Differs));
            Assert.That(result.Differences, Is.EqualTo(new[] { "4 partitions, more than the asked 2" }));
        });
    }

    [Test, CancelAfter(60_000)]
    public void EnsureAsync_ExistingTopicWithFewerPartitions_ThrowsNamingBothCounts(CancellationToken ct)
    {
        var error = Assert.ThrowsAsync<KafkaTopicException>(() => KafkaTopics.EnsureAsync(Config(), new EnsureTopicOptions { Topic = Topic, Partitions = 6 }, cancellationToken: ct));

        Assert.That(error!.Message, Does.Contain($"Topic '{Topic}' has 4 partition(s), fewer than EnsureTopicOptions.Partitions (6)"));
    }

    [Test, CancelAfter(60_000)]
    public void EnsureAsync_MissingTopic_FailsNamingCreateTopicsWithoutCreatingIt(CancellationToken ct)
    {
        string missing = $"ensure-missing-{Guid.NewGuid():N}";
        var stopwatch = Stopwatch.StartNew();

        var error = Assert.ThrowsAsync<KafkaTopicException>(() => KafkaTopics.EnsureAsync(Config(), new EnsureTopicOptions { Topic = missing, Partitions = 3, Timeout = AdminTimeout }, cancellationToken: ct));

        TestContext.Out.WriteLine($"{stopwatch.Elapsed}: {error!.Message}");
        Assert.Multiple(() =>
        {
            Assert.That(error.Message, Does.Contain($"topic '{missing}'").And.Contain("CreateTopics"));
            Assert.That(error.Message, Does.Contain("mock cluster supports no admin request"));
            Assert.That(error.ErrorCode, Is.EqualTo(ErrorCode.Local_TimedOut));
            Assert.That(MetadataError(missing), Is.EqualTo(ErrorCode.UnknownTopicOrPart), "the metadata request must not have auto-created it");
        });
    }

    [Test, CancelAfter(60_000)]
    public void EnsureAsync_ConfigsOfAnExistingTopic_FailsNamingDescribeConfigs(CancellationToken ct)
    {
        var options = new EnsureTopicOptions { Topic = Topic, Partitions = 4, Timeout = AdminTimeout };
        options.Configs["retention.ms"] = "86400000";

        var error = Assert.ThrowsAsync<KafkaTopicException>(() => KafkaTopics.EnsureAsync(Config(), options, cancellationToken: ct));

        TestContext.Out.WriteLine(error!.Message);
        Assert.That(error.Message, Does.Contain("DescribeConfigs").And.Contain("retention.ms=86400000").And.Contain(Topic));
    }

    [Test, CancelAfter(60_000)]
    public async Task CreateAsync_ExistingTopic_VerifiesThenProduces(CancellationToken ct)
    {
        var block = await KafkaProducerBlock.CreateAsync(
            Config(),
            new EnsureTopicOptions { Partitions = 4 },
            new KafkaSinkOptions<string, string> { DefaultTopic = Topic },
            cancellationToken: ct);

        foreach (int i in Enumerable.Range(0, 10))
        {
            Assert.That(await block.SendAsync(new KafkaRecord<string, string>($"k{i}", $"v{i}"), ct), Is.True);
        }

        block.Complete();
        await block.Completion.WaitAsync(ct);
        Assert.That(block.GetStatistics().Delivered, Is.EqualTo(10));
    }

    [Test, CancelAfter(60_000)]
    public void CreateAsync_FewerPartitions_FailsBeforeAnyProducerStarts(CancellationToken ct)
    {
        var error = Assert.ThrowsAsync<KafkaTopicException>(() => KafkaProducerBlock.CreateAsync(
            Config(),
            new EnsureTopicOptions { Partitions = 8 },
            new KafkaSinkOptions<string, string> { DefaultTopic = Topic },
            cancellationToken: ct));

        Assert.That(error!.Topic, Is.EqualTo(Topic));
    }

    [Test, CancelAfter(60_000)]
    public void EnsureAsync_UnreachableBroker_FailsWithinTheTimeoutNamingBootstrapServers(CancellationToken ct)
    {
        // The mock cluster's brokers are all down: nothing answers on their ports.
        Cluster.SetAllBrokersDown();
        var stopwatch = Stopwatch.StartNew();

        var error = Assert.ThrowsAsync<KafkaTopicException>(() => KafkaTopics.EnsureAsync(Config(), new EnsureTopicOptions { Topic = Topic, Timeout = TimeSpan.FromSeconds(2) }, cancellationToken: ct));

        TestContext.Out.WriteLine($"{stopwatch.Elapsed}: {error!.Message}");
        Assert.Multiple(() =>
        {
            Assert.That(error.Message, Does.Contain(Topic).And.Contain("bootstrap.servers"));
        });
    }
}
