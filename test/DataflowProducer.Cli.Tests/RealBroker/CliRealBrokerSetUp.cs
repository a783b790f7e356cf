using DataflowProducer.Kafka.Tests.RealBroker;

namespace DataflowProducer.Cli.Tests.RealBroker;

/// <summary>Starts one real broker for the CLI's real-broker tests and stops it at the end, also when tests fail. When
/// it cannot be started, the tests fail with the reason (never skipped).</summary>
[SetUpFixture]
public sealed class CliRealBrokerSetUp
{
    private static RealKafkaBroker? _broker;
    private static string? _startFailure;

    public static RealKafkaBroker Broker
    {
        get
        {
            if (_broker is null)
            {
                Assert.Fail($"The real Kafka broker could not be started: {_startFailure ?? "its set-up did not run"}");
            }

            return _broker!;
        }
    }

    [OneTimeSetUp]
    public async Task StartBrokerAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        try
        {
            _broker = await RealKafkaBroker.StartAsync(timeout.Token);
        }
        catch (Exception ex)
        {
            _startFailure = ex.Message;
            throw;
        }
    }

    [OneTimeTearDown]
    public async Task StopBrokerAsync()
    {
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
            _broker = null;
        }
    }
}
