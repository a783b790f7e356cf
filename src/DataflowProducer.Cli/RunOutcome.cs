using System.Runtime.InteropServices;

namespace DataflowProducer.Cli;

/// <summary>What a finished run of <c>produce</c> comes to, as far as its exit code is concerned.</summary>
internal sealed record RunOutcome
{
    /// <summary>Malformed lines plus records Kafka refused.</summary>
    public long Failed { get; init; }

    /// <summary>Records that will never be delivered by this run.</summary>
    public long Abandoned { get; init; }

    /// <summary>The signal that stopped reading before the end of the input, or null when the input was read to
    /// its end (or reading stopped for another reason).</summary>
    public PosixSignal? StoppedBy { get; init; }

    /// <summary>True when the tool saw the pipeline abort: it aborted it on a second signal, or the aborting pipeline
    /// refused a record it was given.</summary>
    public bool AbortRequested { get; init; }

    /// <summary>The exception the pipeline's completion ended with, or null when it succeeded.</summary>
    public Exception? CompletionError { get; init; }

    /// <summary>True when an unexpected error stopped part of the run (after which what was accepted was still
    /// drained and the summary printed).</summary>
    public bool UnexpectedError { get; init; }

    /// <summary>True when a second signal canceled <c>--verify</c> while it read the topic back.</summary>
    public bool VerificationCanceled { get; init; }

    /// <summary>True when <c>--verify</c> found the topic different from what was delivered, or could not read it.</summary>
    public bool VerificationFailed { get; init; }
}
