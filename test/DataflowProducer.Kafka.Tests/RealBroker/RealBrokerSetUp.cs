namespace DataflowProducer.Kafka.Tests.RealBroker;

/// <summary>Starts one real broker for every test in this namespace and stops it at the end, also when tests fail.
/// When the broker cannot be started, every test of the tier fails with the reason (never skipped).</summary>
[SetUpFixture]
public sealed class RealBrokerSetUp
{
    private static RealKafkaBroker? _broker;
    private static string? _startFailure;

    /// <summary>Gets the running broker; fails the calling test with the start failure when there is none.</summary>
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
            // Rethrown: NUnit then fails (not skips) every test of the namespace with this message.
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
