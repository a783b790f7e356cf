namespace DataflowProducer.Kafka.Tests.RealBroker;

/// <summary>The one real broker of a test assembly: started by its [SetUpFixture], stopped at the end also when tests
/// fail. When it cannot be started, every test that asks for it fails with the reason (never skipped).</summary>
public static class SharedRealBroker
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

    public static async Task StartAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        try
        {
            _broker = await RealKafkaBroker.StartAsync(timeout.Token);
        }
        catch (Exception ex)
        {
            // Rethrown: NUnit then fails (not skips) every test under the set-up fixture with this message.
            _startFailure = ex.Message;
            throw;
        }
    }

    public static async Task StopAsync()
    {
        if (_broker is not null)
        {
            await _broker.DisposeAsync();
            _broker = null;
        }
    }
}
