namespace DataflowProducer.Kafka.Tests.RealBroker;

/// <summary>Starts the real broker for every test in this namespace and stops it at the end (see <see cref="SharedRealBroker"/>).</summary>
[SetUpFixture]
public sealed class RealBrokerSetUp
{
    /// <summary>Gets the running broker; fails the calling test with the start failure when there is none.</summary>
    public static RealKafkaBroker Broker => SharedRealBroker.Broker;

    [OneTimeSetUp]
    public Task StartBrokerAsync() => SharedRealBroker.StartAsync();

    [OneTimeTearDown]
    public Task StopBrokerAsync() => SharedRealBroker.StopAsync();
}
