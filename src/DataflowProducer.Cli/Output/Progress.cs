namespace DataflowProducer.Cli.Output;

/// <summary>Reports progress on a timer until disposed: every 250 ms on a terminal (a live line), every second
/// otherwise (one line each time, for logs).</summary>
internal sealed class Progress : IAsyncDisposable
{
    private static readonly TimeSpan TerminalInterval = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(1);

    private readonly Reporter _reporter;
    private readonly Func<string> _describe;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private Progress(Reporter reporter, Func<string> describe, TimeProvider timeProvider)
    {
        _reporter = reporter;
        _describe = describe;
        _loop = reporter.Quiet ? Task.CompletedTask : RunAsync(reporter.IsTerminal ? TerminalInterval : LogInterval, timeProvider);
    }

    /// <summary>Starts reporting.</summary>
    /// <param name="reporter">Where progress goes.</param>
    /// <param name="describe">Describes the progress now; called on the timer's thread.</param>
    /// <param name="timeProvider">The clock.</param>
    /// <returns>The running progress; dispose it to stop.</returns>
    public static Progress Start(Reporter reporter, Func<string> describe, TimeProvider timeProvider) => new(reporter, describe, timeProvider);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
        _reporter.ClearStatus();
    }

    private async Task RunAsync(TimeSpan interval, TimeProvider timeProvider)
    {
        using var timer = new PeriodicTimer(interval, timeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                _reporter.Status(_describe());
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
#pragma warning disable CA1031 // A background loop catches everything: progress that breaks must not take the run (and its summary) with it.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _reporter.Line($"warning: progress reporting stopped: {ex.GetType().Name}: {ex.Message}");
        }
    }
}
