using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Kafka.Tests.TestSupport;
using DataflowProducer.Tests.Shared;
using Microsoft.Extensions.Logging.Testing;

namespace DataflowProducer.Kafka.Tests.Reliability;

/// <summary>Credentials in the client configuration never reach a log line (the library's own or librdkafka's, at
/// every level with librdkafka's debug output on), an exception message, or a reported error.</summary>
[Category(TestCategories.Integration)]
public class SecretsTests
{
    private const string SaslPassword = "sasl-Secret-7f3a9e";
    private const string SslKeyPassword = "key-Secret-2b8c1d";

    [TestCase(SecurityProtocol.SaslPlaintext)]
    [TestCase(SecurityProtocol.Plaintext)]
    [CancelAfter(60_000)]
    public async Task Create_PasswordsInConfig_NeverInLogsExceptionsOrErrors(SecurityProtocol protocol, CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        string topic = $"secrets-{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, 2);
        var logs = new FakeLoggerFactory(new FakeLogCollector());
        var outcomes = new Outcomes<KafkaRecord<string, string>>();
        var config = new ProducerConfig
        {
            BootstrapServers = cluster.BootstrapServers,
            SecurityProtocol = protocol,
            SaslMechanism = SaslMechanism.Plain,
            SaslUsername = "alice",
            SaslPassword = SaslPassword,
            SslKeyPassword = SslKeyPassword,
            MessageTimeoutMs = 3000,
            Debug = "conf,security,broker,msg",
        };

        var block = KafkaProducerBlock.Create(
            config,
            new KafkaSinkOptions<string, string> { DefaultTopic = topic },
            new BatchProducerOptions { BatchSize = 10, Linger = TimeSpan.FromMilliseconds(10), DrainTimeout = TimeSpan.FromSeconds(10) },
            outcomes.Callbacks,
            logs);
        foreach (var record in Records.Create(30, topic: null))
        {
            Assert.That(await block.SendAsync(record, ct), Is.True);
        }

        block.Complete();
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));

        var records = logs.Collector.GetSnapshot();
        var texts = records.Select(r => $"{r.Level} {r.Id} {r.Message} {r.Exception} {string.Join(",", r.StructuredState?.Select(kv => kv.Value) ?? [])}")
            .Concat(outcomes.Failed.Select(f => f.Error.ToString()))
            .Append(completion?.ToString() ?? string.Empty)
            .ToList();
        TestContext.Out.WriteLine($"{protocol}: {records.Count} log records, {outcomes.Failed.Count} failed, completion: {completion?.Message ?? "succeeded"}");
        Assert.Multiple(() =>
        {
            Assert.That(records.Count(r => r.Category?.Contains("KafkaBatchSink", StringComparison.Ordinal) == true && r.Message.StartsWith("librdkafka", StringComparison.Ordinal)), Is.GreaterThan(10), "librdkafka's debug log was not captured: the test proves nothing");
            Assert.That(texts.Where(t => t.Contains(SaslPassword, StringComparison.Ordinal)), Is.Empty, "sasl.password leaked");
            Assert.That(texts.Where(t => t.Contains(SslKeyPassword, StringComparison.Ordinal)), Is.Empty, "ssl.key.password leaked");
        });
    }

    [Test]
    public void Create_ConfigRejectedWhileHoldingPasswords_ExceptionDoesNotShowThem()
    {
        var config = new ProducerConfig { BootstrapServers = "127.0.0.1:1", SaslPassword = SaslPassword, SslKeyPassword = SslKeyPassword };
        config.Set("no.such.property", "x");

        Exception? error = null;
        try
        {
            KafkaProducerBlock.Create(config, new KafkaSinkOptions<string, string> { DefaultTopic = "t" }).Complete();
        }
        catch (Exception ex)
        {
            error = ex;
        }

        Assert.That(error, Is.Not.Null, "the configuration was not rejected: the test proves nothing");
        Assert.That(error!.ToString(), Does.Not.Contain(SaslPassword).And.Not.Contain(SslKeyPassword));
    }
}
