using System.Threading.Tasks.Dataflow;
using DataflowProducer.Kafka;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Tests.Shared;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace DataflowProducer.Hosting.Tests;

/// <summary>A registered block's credentials never reach the host's log, from start to drained stop.</summary>
[Category(TestCategories.Integration)]
public class SecretsTests
{
    private const string SaslPassword = "host-sasl-Secret-91ac";
    private const string SslKeyPassword = "host-key-Secret-4e7d";

    [Test, CancelAfter(60_000)]
    public async Task AddKafkaProducerBlock_PasswordsInProducerSettings_NeverInTheHostLog(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        string topic = $"host-secrets-{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, 2);
        var collector = new FakeLogCollector();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddProvider(new FakeLoggerProvider(collector));
        builder.Services.AddKafkaProducerBlock<string, string>("orders", o =>
        {
            o.DefaultTopic = topic;
            o.BatchSize = 10;
            o.Linger = TimeSpan.FromMilliseconds(10);
            o.DrainTimeout = TimeSpan.FromSeconds(10);
            o.Producer["bootstrap.servers"] = cluster.BootstrapServers;
            o.Producer["security.protocol"] = "sasl_plaintext";
            o.Producer["sasl.mechanism"] = "PLAIN";
            o.Producer["sasl.username"] = "alice";
            o.Producer["sasl.password"] = SaslPassword;
            o.Producer["ssl.key.password"] = SslKeyPassword;
            o.Producer["message.timeout.ms"] = "3000";
            o.Producer["debug"] = "conf,security,broker";
        });

        using IHost host = builder.Build();
        await host.StartAsync(ct);
        var block = host.Services.GetRequiredKeyedService<ITargetBlock<KafkaRecord<string, string>>>("orders");
        for (int i = 0; i < 20; i++)
        {
            await block.SendAsync(new KafkaRecord<string, string>($"k{i}", $"v{i}"), ct);
        }

        await host.StopAsync(ct);
        await Task.WhenAny(block.Completion).WaitAsync(ct);

        var records = collector.GetSnapshot();
        var texts = records.Select(r => $"{r.Message} {r.Exception}").Append(block.Completion.Exception?.ToString() ?? string.Empty).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(records.Count(r => r.Message.StartsWith("librdkafka", StringComparison.Ordinal)), Is.GreaterThan(10), "librdkafka's debug log was not captured: the test proves nothing");
            Assert.That(texts.Where(t => t.Contains(SaslPassword, StringComparison.Ordinal)), Is.Empty, "sasl.password leaked");
            Assert.That(texts.Where(t => t.Contains(SslKeyPassword, StringComparison.Ordinal)), Is.Empty, "ssl.key.password leaked");
        });
    }
}
