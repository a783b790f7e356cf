using System.Text;
using System.Threading.Tasks.Dataflow;
using DataflowProducer.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DataflowProducer.Hosting.Tests;

public class OptionsTests
{
    // The options the host would bind from this JSON's Kafka:Orders section, for the block named "orders".
    private static KafkaProducerBlockOptions BindJson(string json)
    {
        IConfiguration configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        var services = new ServiceCollection();
        services.AddKafkaProducerBlock<string, string>("orders", configuration.GetSection("Kafka:Orders"));
        using ServiceProvider provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptionsMonitor<KafkaProducerBlockOptions>>().Get("orders");
    }

    [TestCase("BatchSize", "0", "BatchSize must be at least 1, but was 0.")]
    [TestCase("MaxInFlightBatches", "0", "MaxInFlightBatches must be at least 1, but was 0.")]
    [TestCase("BoundedBytes", "0", "BoundedBytes must be at least 1, or -1 for no bytes bound, but was 0.")]
    [TestCase("BoundedCapacity", "10", "BoundedCapacity must be DataflowBlockOptions.Unbounded (-1) or at least BatchSize (100), but was 10.")]
    [TestCase("Linger", "00:00:00", "Linger must be greater than zero or Timeout.InfiniteTimeSpan, but was 00:00:00.")]
    [TestCase("DrainTimeout", "-00:00:05", "DrainTimeout must be zero or more, or Timeout.InfiniteTimeSpan, but was -00:00:05.")]
    [TestCase("FailurePolicy", "7", "FailurePolicy must be ReportAndContinue or FaultPipeline, but was 7.")]
    [TestCase("SettleTime", "-00:00:01", "SettleTime must be zero or more and at most 49.17:02:47.2940000 (the longest timer), but was -00:00:01.")]
    [TestCase("Adaptive:MaxBatchSize", "50", "Adaptive.MaxBatchSize must be at least BatchSize (100), but was 50.")]
    [TestCase("BoundedByte", "1000", "BoundedByte is not a setting (did you mean BoundedBytes?); it would be ignored.")]
    [TestCase("maxbatchbyte", "1000", "maxbatchbyte is not a setting (did you mean MaxBatchBytes?); it would be ignored.")]
    [TestCase("EnsureTopic:Partition", "6", "EnsureTopic:Partition is not a setting (did you mean EnsureTopic:Partitions?); it would be ignored.")]
    [TestCase("Adaptiv:MaxBatchSize", "5000", "Adaptiv is not a setting (did you mean Adaptive?); it would be ignored.")]
    [TestCase("Adaptive:MaxLingr", "00:00:01", "Adaptive:MaxLingr is not a setting (did you mean Adaptive:MaxLinger?); it would be ignored.")]
    [TestCase("Colour", "blue", "Colour is not a setting; it would be ignored.")]
    [CancelAfter(30_000)]
    public void StartAsync_BadSetting_OneCleanLinePerError(string key, string value, string expected, CancellationToken ct)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Kafka:Orders:Producer:bootstrap.servers"] = "127.0.0.1:1",
            ["Kafka:Orders:BatchSize"] = "100",
            ["Kafka:Orders:DefaultTopic"] = "orders",
            [$"Kafka:Orders:{key}"] = value,
        };
        using IHost host = BuildHost(settings);

        var error = Assert.ThrowsAsync<OptionsValidationException>(async () => await host.StartAsync(ct));
        Assert.That(error!.Failures, Is.EqualTo(new[] { expected }));
    }

    [Test, CancelAfter(30_000)]
    public void StartAsync_SeveralBadSettings_EachReportedOnce(CancellationToken ct)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Kafka:Orders:Producer:bootstrap.servers"] = "127.0.0.1:1",
            ["Kafka:Orders:BatchSize"] = "0",
            ["Kafka:Orders:MaxInFlightBatches"] = "0",
            ["Kafka:Orders:DefaultTopic"] = string.Empty,
        };
        using IHost host = BuildHost(settings);

        var error = Assert.ThrowsAsync<OptionsValidationException>(async () => await host.StartAsync(ct));
        Assert.That(error!.Failures, Is.EquivalentTo(new[]
        {
            "BatchSize must be at least 1, but was 0.",
            "MaxInFlightBatches must be at least 1, but was 0.",
            "DefaultTopic must be null or a topic name, but was an empty string.",
        }));
    }

    [Test, CancelAfter(30_000)]
    public void StartAsync_ProducerSettingTheClientRejectsByItsAlias_FailsNamingTheKeyAsWritten(CancellationToken ct)
    {
        using IHost host = BuildHost(new Dictionary<string, string?>
        {
            ["Kafka:Orders:Producer:bootstrap.servers"] = "127.0.0.1:1",
            ["Kafka:Orders:Producer:acks"] = "banana",
        });

        var error = Assert.ThrowsAsync(Is.InstanceOf<ArgumentException>(), async () => await host.StartAsync(ct));
        Assert.That(error!.Message, Does.Contain("'acks'").And.Not.Contain("request.required.acks"));
    }

    [Test, CancelAfter(30_000)]
    public void StartAsync_NoBootstrapServers_FailsNamingIt(CancellationToken ct)
    {
        using IHost host = BuildHost(new Dictionary<string, string?> { ["Kafka:Orders:BatchSize"] = "100" });

        var error = Assert.ThrowsAsync<OptionsValidationException>(async () => await host.StartAsync(ct));
        Assert.That(error!.Message, Does.Contain("bootstrap.servers"));
    }

    [Test]
    public void Bind_EmptyAdaptiveSection_TurnsAdaptiveBatchingOnWithItsDefaults()
    {
        const string Json = """
            { "Kafka": { "Orders": { "DefaultTopic": "orders", "Adaptive": { }, "Producer": { "bootstrap.servers": "127.0.0.1:9092" } } } }
            """;
        KafkaProducerBlockOptions options = BindJson(Json);

        Assert.That(options.Adaptive, Is.Not.Null, "README: an \"Adaptive\": { } section turns it on with its defaults");
        Assert.That(options.Adaptive!.MaxBatchSize, Is.EqualTo(new AdaptiveBatchingOptions().MaxBatchSize));
    }

    [Test]
    public void Bind_EmptyEnsureTopicSection_EnsuresTheDefaultTopicWithItsDefaults()
    {
        const string Json = """
            { "Kafka": { "Orders": { "DefaultTopic": "orders", "EnsureTopic": { }, "Producer": { "bootstrap.servers": "127.0.0.1:9092", "any.client.key": "x" } } } }
            """;
        KafkaProducerBlockOptions options = BindJson(Json);

        Assert.Multiple(() =>
        {
            Assert.That(options.EnsureTopic, Is.Not.Null, "an \"EnsureTopic\": { } section turns it on with its defaults");
            Assert.That(options.EnsureTopic!.Partitions, Is.EqualTo(new EnsureTopicOptions().Partitions));
            Assert.That(options.UnknownSettingErrors, Is.Empty, "the client's own keys under Producer are not checked here");
        });
    }

    [Test]
    public void Bind_JsonSection_AllSettingsArrive()
    {
        const string Json = """
            {
              "Kafka": {
                "Orders": {
                  "DefaultTopic": "orders",
                  "BatchSize": 250,
                  "Linger": "00:00:00.020",
                  "BoundedCapacity": 5000,
                  "MaxInFlightBatches": 3,
                  "BoundedBytes": 67108864,
                  "MaxBatchBytes": 1048576,
                  "DrainTimeout": "00:00:07",
                  "SettleTime": "00:00:03",
                  "FailurePolicy": "FaultPipeline",
                  "Producer": { "bootstrap.servers": "127.0.0.1:9092", "acks": "all" }
                }
              }
            }
            """;
        KafkaProducerBlockOptions options = BindJson(Json);

        Assert.Multiple(() =>
        {
            Assert.That(options.DefaultTopic, Is.EqualTo("orders"));
            Assert.That(options.BatchSize, Is.EqualTo(250));
            Assert.That(options.Linger, Is.EqualTo(TimeSpan.FromMilliseconds(20)));
            Assert.That(options.BoundedCapacity, Is.EqualTo(5000));
            Assert.That(options.MaxInFlightBatches, Is.EqualTo(3));
            Assert.That(options.ToBatchProducerOptions(TimeProvider.System).BoundedBytes, Is.EqualTo(64L * 1024 * 1024));
            Assert.That(options.ToBatchProducerOptions(TimeProvider.System).MaxBatchBytes, Is.EqualTo(1024L * 1024));
            Assert.That(options.DrainTimeout, Is.EqualTo(TimeSpan.FromSeconds(7)));
            Assert.That(options.SettleTime, Is.EqualTo(TimeSpan.FromSeconds(3)));
            Assert.That(options.ToBatchProducerOptions(TimeProvider.System).SettleTime, Is.EqualTo(TimeSpan.FromSeconds(3)));
            Assert.That(options.FailurePolicy, Is.EqualTo(FailurePolicy.FaultPipeline));
            Assert.That(options.Producer, Does.ContainKey("bootstrap.servers").WithValue("127.0.0.1:9092"));
            Assert.That(options.Producer, Does.ContainKey("acks").WithValue("all"));
        });
    }

    [Test, CancelAfter(30_000)]
    public async Task AddKafkaProducerBlock_TwoNames_TwoIndependentBlocks(CancellationToken ct)
    {
        var services = new ServiceCollection();
        services.AddKafkaProducerBlock<string, string>("a", o => o.Producer["bootstrap.servers"] = "127.0.0.1:1");
        services.AddKafkaProducerBlock<string, string>("b", o => o.Producer["bootstrap.servers"] = "127.0.0.1:1");
        await using ServiceProvider provider = services.BuildServiceProvider();

        var a = provider.GetRequiredKeyedService<ITargetBlock<KafkaRecord<string, string>>>("a");
        var b = provider.GetRequiredKeyedService<ITargetBlock<KafkaRecord<string, string>>>("b");

        Assert.Multiple(() =>
        {
            Assert.That(a, Is.Not.SameAs(b));
            Assert.That(provider.GetServices<IHostedService>().Count(), Is.EqualTo(2));
        });
        a.Complete();
        b.Complete();
        await Task.WhenAll(a.Completion, b.Completion).WaitAsync(ct);
    }

    private static IHost BuildHost(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddKafkaProducerBlock<string, string>("orders", builder.Configuration.GetSection("Kafka:Orders"));
        return builder.Build();
    }
}
