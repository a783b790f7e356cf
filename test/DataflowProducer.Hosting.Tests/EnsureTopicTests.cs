using System.Text;
using DataflowProducer.Kafka;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Tests.Shared;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;

namespace DataflowProducer.Hosting.Tests;

/// <summary>The <c>EnsureTopic</c> settings: bound from configuration, validated with one line per error, and the
/// topic ensured when the host starts (against librdkafka's mock cluster, which verifies through metadata).</summary>
public class EnsureTopicTests
{
    [Test]
    public void Bind_EnsureTopicSection_AllSettingsArrive()
    {
        const string Json = """
            {
              "Orders": {
                "DefaultTopic": "orders",
                "Producer": { "bootstrap.servers": "127.0.0.1:9092" },
                "EnsureTopic": {
                  "Partitions": 6,
                  "ReplicationFactor": 3,
                  "Configs": { "retention.ms": "86400000", "cleanup.policy": "compact" },
                  "WhenExists": "AlterConfigs",
                  "AllowPartitionGrowth": true,
                  "Timeout": "00:00:12"
                }
              }
            }
            """;
        IConfiguration configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(Json))).Build();
        var services = new ServiceCollection();
        services.AddKafkaProducerBlock<string, string>("orders", configuration.GetSection("Orders"));
        using ServiceProvider provider = services.BuildServiceProvider();

        KafkaProducerBlockOptions options = provider.GetRequiredService<IOptionsMonitor<KafkaProducerBlockOptions>>().Get("orders");
        EnsureTopicOptions? ensure = options.ToEnsureTopicOptions(TimeProvider.System);

        Assert.Multiple(() =>
        {
            Assert.That(ensure, Is.Not.Null);
            Assert.That(ensure!.Topic, Is.EqualTo("orders"), "defaults to DefaultTopic");
            Assert.That(ensure.Partitions, Is.EqualTo(6));
            Assert.That(ensure.ReplicationFactor, Is.EqualTo(3));
            Assert.That(ensure.Configs, Is.EquivalentTo(new Dictionary<string, string> { ["retention.ms"] = "86400000", ["cleanup.policy"] = "compact" }));
            Assert.That(ensure.WhenExists, Is.EqualTo(TopicExistsBehavior.AlterConfigs));
            Assert.That(ensure.AllowPartitionGrowth, Is.True);
            Assert.That(ensure.Timeout, Is.EqualTo(TimeSpan.FromSeconds(12)));
            Assert.That(options.EnsureTopic!.Topic, Is.Null, "the bound options are not changed");
        });
    }

    [Test]
    public void Bind_NoEnsureTopicSection_NothingEnsured()
    {
        var options = new KafkaProducerBlockOptions();

        Assert.That(options.ToEnsureTopicOptions(TimeProvider.System), Is.Null);
    }

    [TestCase("Partitions", "0", "EnsureTopic.Partitions must be at least 1, but was 0.")]
    [TestCase("ReplicationFactor", "0", "EnsureTopic.ReplicationFactor must be null or from 1 to 32767, but was 0.")]
    [TestCase("Timeout", "00:00:00", "EnsureTopic.Timeout must be greater than zero and at most 24.20:31:23.6470000, but was 00:00:00.")]
    [TestCase("Topic", "a b", "EnsureTopic.Topic 'a b' is not a legal Kafka topic name: it contains ' ', and only ASCII letters, digits, '.', '_' and '-' are allowed.")]
    [CancelAfter(30_000)]
    public void StartAsync_BadEnsureTopicSetting_OneCleanLinePerError(string key, string value, string expected, CancellationToken ct)
    {
        using IHost host = BuildHost(new Dictionary<string, string?>
        {
            ["Kafka:Orders:Producer:bootstrap.servers"] = "127.0.0.1:1",
            ["Kafka:Orders:DefaultTopic"] = "orders",
            [$"Kafka:Orders:EnsureTopic:{key}"] = value,
        });

        var error = Assert.ThrowsAsync<OptionsValidationException>(async () => await host.StartAsync(ct));
        Assert.That(error!.Failures, Is.EqualTo(new[] { expected }));
    }

    [Test, CancelAfter(30_000)]
    public void StartAsync_EnsureTopicWithoutAnyTopicName_FailsNamingBothSettings(CancellationToken ct)
    {
        using IHost host = BuildHost(new Dictionary<string, string?>
        {
            ["Kafka:Orders:Producer:bootstrap.servers"] = "127.0.0.1:1",
            ["Kafka:Orders:EnsureTopic:Partitions"] = "3",
        });

        var error = Assert.ThrowsAsync<OptionsValidationException>(async () => await host.StartAsync(ct));
        Assert.That(error!.Failures, Is.EqualTo(new[] { "EnsureTopic.Topic or DefaultTopic must name the topic to ensure, but both were null." }));
    }

    [Test, CancelAfter(60_000)]
    [Category(TestCategories.Integration)]
    public async Task StartAsync_TopicAsSpecified_VerifiedBeforeTheHostStarts(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        string topic = $"host-ensure-{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, 4);
        var logs = new FakeLogCollector();

        using IHost host = BuildHost(
            new Dictionary<string, string?>
            {
                ["Kafka:Orders:Producer:bootstrap.servers"] = cluster.BootstrapServers,
                ["Kafka:Orders:DefaultTopic"] = topic,
                ["Kafka:Orders:EnsureTopic:Partitions"] = "4",
            },
            logs);
        await host.StartAsync(ct);
        await host.StopAsync(ct);

        Assert.That(logs.GetSnapshot().Where(r => r.Category == "DataflowProducer.Kafka.KafkaTopics").Select(r => r.Id.Id), Is.EqualTo(new[] { 2202 }));
    }

    [Test, CancelAfter(60_000)]
    [Category(TestCategories.Integration)]
    public void StartAsync_TopicWithFewerPartitions_StartFailsNamingTheTopic(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        string topic = $"host-ensure-{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, 2);

        using IHost host = BuildHost(new Dictionary<string, string?>
        {
            ["Kafka:Orders:Producer:bootstrap.servers"] = cluster.BootstrapServers,
            ["Kafka:Orders:DefaultTopic"] = topic,
            ["Kafka:Orders:EnsureTopic:Partitions"] = "6",
        });

        var error = Assert.ThrowsAsync<KafkaTopicException>(async () => await host.StartAsync(ct));
        Assert.That(error!.Message, Does.StartWith($"Topic '{topic}' has 2 partition(s), fewer than EnsureTopicOptions.Partitions (6)."));
    }

    [Test, CancelAfter(60_000)]
    [Category(TestCategories.Integration)]
    public void StartAsync_BrokersDown_StartFailsAtTheEnsureTimeoutNotAHang(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        cluster.SetAllBrokersDown();

        using IHost host = BuildHost(new Dictionary<string, string?>
        {
            ["Kafka:Orders:Producer:bootstrap.servers"] = cluster.BootstrapServers,
            ["Kafka:Orders:DefaultTopic"] = "orders",
            ["Kafka:Orders:EnsureTopic:Timeout"] = "00:00:02",
        });

        var error = Assert.ThrowsAsync<KafkaTopicException>(async () => await host.StartAsync(ct));
        Assert.That(error!.Message, Does.Contain("'orders'").And.Contain("bootstrap.servers"));
    }

    private static IHost BuildHost(Dictionary<string, string?> settings, FakeLogCollector? logs = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        if (logs is not null)
        {
            builder.Logging.AddProvider(new FakeLoggerProvider(logs));
        }

        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddKafkaProducerBlock<string, string>("orders", builder.Configuration.GetSection("Kafka:Orders"));
        return builder.Build();
    }
}
