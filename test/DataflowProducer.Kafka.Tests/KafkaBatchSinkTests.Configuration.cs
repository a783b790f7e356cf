using Confluent.Kafka;
using DataflowProducer.Kafka.Tests.TestSupport;
using Microsoft.Extensions.Logging.Testing;

namespace DataflowProducer.Kafka.Tests;

public partial class KafkaBatchSinkTests
{
    [TestCase(null, null, null, ExpectedResult = true)]
    [TestCase(false, null, null, ExpectedResult = false)]
    [TestCase(true, null, null, ExpectedResult = true)]
    [TestCase(null, false, "0.9.0.1", ExpectedResult = null)]
    [TestCase(null, false, "0.10.2.1", ExpectedResult = null)]
    [TestCase(null, false, "0.11.0", ExpectedResult = true)]
    [TestCase(null, true, "0.9.0.1", ExpectedResult = true)]
    [TestCase(null, null, "0.9.0.1", ExpectedResult = true)]
    [TestCase(true, false, "0.9.0.1", ExpectedResult = true)]
    public bool? WithDefaults_IdempotenceAndBrokerVersion_IdempotenceOnlyWhenUnsetAndBrokerSupportsIt(bool? enableIdempotence, bool? apiVersionRequest, string? brokerVersionFallback)
    {
        var config = new ProducerConfig { BootstrapServers = "b:9092", EnableIdempotence = enableIdempotence, ApiVersionRequest = apiVersionRequest, BrokerVersionFallback = brokerVersionFallback };
        int settingsBefore = config.Count();

        ProducerConfig effective = KafkaBatchSink<string, string>.WithDefaults(config);

        Assert.Multiple(() =>
        {
            Assert.That(effective, Is.Not.SameAs(config));
            Assert.That(config.EnableIdempotence, Is.EqualTo(enableIdempotence), "the caller's configuration is not changed");
            Assert.That(config.Count(), Is.EqualTo(settingsBefore));
            Assert.That(effective.BootstrapServers, Is.EqualTo("b:9092"));
        });
        return effective.EnableIdempotence;
    }

    [TestCase(null, ExpectedResult = "True")]
    [TestCase(false, ExpectedResult = "False")]
    public string? Constructor_FromConfig_BuildsProducerWithDefaultedIdempotence(bool? enableIdempotence)
    {
        var logger = new FakeLogger();
        using var sut = new KafkaBatchSink<string, string>(new ProducerConfig { BootstrapServers = "127.0.0.1:9", EnableIdempotence = enableIdempotence }, logger: logger);

        FakeLogRecord created = logger.Collector.GetSnapshot().Single(r => r.Id.Name == "ProducerCreated");
        return created.GetStructuredStateValue("Idempotence");
    }

    [TestCase("no.such.setting", "1", null)]
    [TestCase("acks", "banana", "request.required.acks")]
    [TestCase("linger.ms", "-5", "queue.buffering.max.ms")]
    [TestCase("retries", "many", "message.send.max.retries")]
    [TestCase("request.required.acks", "banana", null)]
    public void Constructor_ConfigurationTheClientRejects_ThrowsArgumentExceptionNamingTheKeyAsWritten(string key, string value, string? alias)
    {
        var config = new ProducerConfig(new Dictionary<string, string> { ["bootstrap.servers"] = "127.0.0.1:9", [key] = value });

        var error = Assert.Throws(Is.InstanceOf<ArgumentException>(), () => _ = new KafkaBatchSink<string, string>(config));

        TestContext.Out.WriteLine(error!.Message);
        Assert.Multiple(() =>
        {
            Assert.That(error.Message, Does.Contain($"'{key}'"));
            Assert.That(((ArgumentException)error).ParamName, Is.EqualTo("config"));
            if (alias is not null)
            {
                Assert.That(error.Message, Does.Not.Contain(alias), "the client's name for the setting, not the one the user wrote");
            }
        });
    }

    [Test]
    public void Constructor_EmptyDefaultTopic_ThrowsNamingTheOption()
    {
        Assert.That(
            () => new KafkaBatchSink<string, string>(_stub.Producer, new KafkaSinkOptions<string, string> { DefaultTopic = string.Empty }),
            Throws.ArgumentException.With.Message.Contains("DefaultTopic"));
    }

    [Test]
    public void Constructor_NonPositiveRetryInterval_ThrowsNamingTheOption()
    {
        Assert.That(
            () => new KafkaBatchSink<string, string>(_stub.Producer, new KafkaSinkOptions<string, string> { QueueFullRetryInterval = TimeSpan.Zero }),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("QueueFullRetryInterval"));
    }
}
