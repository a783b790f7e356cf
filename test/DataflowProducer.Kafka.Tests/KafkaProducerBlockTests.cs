using Confluent.Kafka;
using DataflowProducer.Kafka.Tests.TestSupport;

namespace DataflowProducer.Kafka.Tests;

/// <summary>Unit tests of <see cref="KafkaProducerBlock"/>'s factory over a built producer (no broker needed: the
/// producer is built and torn down without sending).</summary>
public class KafkaProducerBlockTests
{
    [TestCase(LoggerHostility.CreateLoggerThrows, null)]
    [TestCase(LoggerHostility.AlwaysThrows, null)]
    [TestCase(LoggerHostility.ThrowsInOneEvent, "ProducerCreated")]
    [CancelAfter(30_000)]
    public async Task Create_LoggerFactoryThatThrows_BlockIsCreatedAndCompletes(LoggerHostility hostility, string? eventName, CancellationToken ct)
    {
        var factory = new HostileLoggerFactory(hostility, eventName);

        var block = KafkaProducerBlock.Create(
            new ProducerConfig { BootstrapServers = "127.0.0.1:9" },
            new KafkaSinkOptions<string, string> { DefaultTopic = "t" },
            new BatchProducerOptions { DrainTimeout = TimeSpan.FromSeconds(5) },
            loggerFactory: factory);
        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(factory.Throws, Is.GreaterThan(0), "the factory was never hostile: the test proves nothing");
            Assert.That(block.GetStatistics().Accepted, Is.Zero);
        });
    }
}
