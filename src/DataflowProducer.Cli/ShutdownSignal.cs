using System.Runtime.InteropServices;

namespace DataflowProducer.Cli;

/// <summary>Two-stage shutdown: the first Ctrl+C or SIGTERM asks for a graceful stop (stop reading, drain, flush),
/// the second for an abort (abandon what is not delivered). A third is left to the operating system.</summary>
internal sealed class ShutdownSignal : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _abort = new();
    private int _requests;
    private PosixSignal? _firstSignal;
    private PosixSignal? _secondSignal;

    /// <summary>Canceled by the first request: stop reading input, then drain.</summary>
    public CancellationToken Stopping => _stop.Token;

    /// <summary>Canceled by the second request: abort the pipeline.</summary>
    public CancellationToken Aborting => _abort.Token;

    /// <summary>The signal of the first request, if any.</summary>
    public PosixSignal? FirstSignal => Volatile.Read(ref _requests) > 0 ? _firstSignal : null;

    /// <summary>The signal of the second request, if any.</summary>
    public PosixSignal? SecondSignal => Volatile.Read(ref _requests) > 1 ? _secondSignal : null;

    /// <summary>Records a request.</summary>
    /// <param name="signal">The signal that asked (SIGINT for Ctrl+C).</param>
    /// <returns>True when the request was taken, so the default handling (termination) must be canceled; false
    /// from the third request on, so the operating system's default applies.</returns>
    public bool Request(PosixSignal signal)
    {
        int count = Interlocked.Increment(ref _requests);
        if (count == 1)
        {
            _firstSignal = signal;
            _stop.Cancel();
            return true;
        }

        if (count == 2)
        {
            _secondSignal = signal;
            _abort.Cancel();
            return true;
        }

        return false;
    }

    /// <summary>Names a signal as the user knows it.</summary>
    /// <param name="signal">The signal, or null when unknown.</param>
    /// <returns>"Ctrl+C" for SIGINT, the signal's name otherwise, "signal" when unknown.</returns>
    public static string Describe(PosixSignal? signal) => signal switch
    {
        PosixSignal.SIGINT => "Ctrl+C",
        null => "signal",
        { } other => other.ToString(),
    };

    public void Dispose()
    {
        _stop.Dispose();
        _abort.Dispose();
    }
}
