using DataflowProducer.Kafka.Tests.RealBroker;

namespace DataflowProducer.Cli.Tests.RealBroker;

/// <summary>Starts the real broker for the CLI's real-broker tests and stops it at the end (see <see cref="SharedRealBroker"/>).</summary>
[SetUpFixture]
public sealed class CliRealBrokerSetUp
{
    public static RealKafkaBroker Broker => SharedRealBroker.Broker;

    [OneTimeSetUp]
    public Task StartBrokerAsync() => SharedRealBroker.StartAsync();

    [OneTimeTearDown]
    public Task StopBrokerAsync() => SharedRealBroker.StopAsync();
}
