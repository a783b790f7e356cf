using System.Runtime.InteropServices;
using System.Threading.Tasks.Dataflow;
using DataflowProducer.Cli.Output;

namespace DataflowProducer.Cli;

/// <summary>What the tool does on a signal while the pipeline runs, until disposed: on the first it says it is
/// stopping (the read itself is stopped by the same token, see <see cref="ShutdownSignal.Stopping"/>); on the second
/// it says it is aborting and faults the pipeline, which stops at once and hands back every record not yet delivered.</summary>
internal sealed class ShutdownResponse : IDisposable
{
    private readonly CancellationTokenRegistration _stopping;
    private readonly CancellationTokenRegistration _aborting;
    private bool _abortRequested;

    /// <summary>Starts responding; a signal that came before is responded to at once.</summary>
    /// <param name="shutdown">The signals.</param>
    /// <param name="reporter">Where the tool says what it does.</param>
    /// <param name="pipeline">The pipeline the second signal aborts.</param>
    public ShutdownResponse(ShutdownSignal shutdown, Reporter reporter, IDataflowBlock pipeline)
    {
        _stopping = shutdown.Stopping.Register(() => reporter.Line(StoppingMessage(shutdown.FirstSignal)));
        _aborting = shutdown.Aborting.Register(() =>
        {
            // A second signal after the pipeline finished aborts nothing (it may cancel --verify).
            if (!pipeline.Completion.IsCompleted)
            {
                Volatile.Write(ref _abortRequested, true);
                reporter.Line(AbortingMessage(shutdown.SecondSignal));
                pipeline.Fault(new OperationCanceledException($"Aborted by a second {ShutdownSignal.Describe(shutdown.SecondSignal)}."));
            }
        });
    }

    /// <summary>Gets a value indicating whether a second signal aborted the pipeline.</summary>
    public bool AbortRequested => Volatile.Read(ref _abortRequested);

    /// <summary>What the tool says on the first signal.</summary>
    /// <param name="signal">The signal received.</param>
    /// <returns>The message.</returns>
    internal static string StoppingMessage(PosixSignal? signal) =>
        $"Stopping on {ShutdownSignal.Describe(signal)}: no more input is read; draining what was accepted. " + signal switch
        {
            PosixSignal.SIGINT => "Press Ctrl+C again to abort.",
            null => "Send the signal again to abort.",
            { } other => $"Send {other} again to abort.",
        };

    /// <summary>What the tool says on the second signal.</summary>
    /// <param name="signal">The signal received.</param>
    /// <returns>The message.</returns>
    internal static string AbortingMessage(PosixSignal? signal) =>
        $"Aborting on a second {ShutdownSignal.Describe(signal)}: records not yet delivered are abandoned.";

    public void Dispose()
    {
        _stopping.Dispose();
        _aborting.Dispose();
    }
}
