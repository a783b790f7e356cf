using System.Runtime.InteropServices;
using Confluent.Kafka;

namespace DataflowProducer.Cli;

/// <summary>The process exit codes. When several apply, <see cref="For"/> decides: 5 wins over 4, 4 over 1, 1 over 3,
/// and 3 over 130/143 (verification failed beats aborted beats an unexpected error beats failed records beats
/// interrupted), as the README and <c>--help</c> say.</summary>
internal static class ExitCodes
{
    /// <summary>Every record read was delivered (and verified, with <c>--verify</c>).</summary>
    public const int Success = 0;

    /// <summary>An unexpected error stopped the tool, or part of a run (e.g. reading the input); what was accepted
    /// was still drained and the summary printed; or <c>--ensure-topic</c> failed, before anything was produced.</summary>
    public const int UnexpectedError = 1;

    /// <summary>Bad arguments: an unknown or invalid option, an input file that cannot be opened, a CSV header
    /// without the key field, a Kafka setting the client rejects, or (<c>copy</c>) a source topic the cluster does not
    /// have. Nothing was produced.</summary>
    public const int BadArguments = 2;

    /// <summary>Some records failed: malformed input lines, or records Kafka refused.</summary>
    public const int RecordsFailed = 3;

    /// <summary>Aborted: the pipeline was aborted (second Ctrl+C/SIGTERM, drain timeout, or a broken producer: a fatal
    /// Kafka client error), whether or not records were left to abandon; records were abandoned; or a second signal
    /// canceled <c>--verify</c>.</summary>
    public const int Abandoned = 4;

    /// <summary><c>--verify</c> found the topic's content different from what was delivered, or could not read it.</summary>
    public const int VerificationFailed = 5;

    /// <summary>Stopped by a first Ctrl+C (SIGINT) before the end of the input; everything read was delivered.</summary>
    public const int InterruptedBySigint = 130;

    /// <summary>Stopped by a first SIGTERM before the end of the input; everything read was delivered.</summary>
    public const int InterruptedBySigterm = 143;

    /// <summary>Decides the exit code of a finished run.</summary>
    /// <param name="outcome">What the run came to.</param>
    /// <returns>The exit code.</returns>
    public static int For(RunOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        if (outcome.VerificationFailed)
        {
            return VerificationFailed;
        }

        if (outcome.Abandoned > 0 || outcome.AbortRequested || outcome.VerificationCanceled || IsAbort(outcome.CompletionError))
        {
            return Abandoned;
        }

        if (outcome.UnexpectedError)
        {
            return UnexpectedError;
        }

        if (outcome.Failed > 0)
        {
            return RecordsFailed;
        }

        if (outcome.StoppedBy is { } signal)
        {
            return signal == PosixSignal.SIGTERM ? InterruptedBySigterm : InterruptedBySigint;
        }

        return Success;
    }

    // Whether the pipeline's completion says it was aborted, even with nothing left to abandon: canceled, or faulted
    // by a cancellation (a second signal), a drain timeout, or a fatal error of the Kafka client (a broken producer,
    // e.g. an idempotent producer that lost its sequence). Records that merely failed leave their first error as
    // the cause; those are not an abort unless the client said it is fatal.
    private static bool IsAbort(Exception? completionError)
    {
        var pending = new Stack<Exception>();
        if (completionError is not null)
        {
            pending.Push(completionError);
        }

        while (pending.TryPop(out Exception? error))
        {
            switch (error)
            {
                case OperationCanceledException or TimeoutException:
                case KafkaException { Error.IsFatal: true }:
                    return true;
                case AggregateException aggregate:
                    foreach (Exception inner in aggregate.InnerExceptions)
                    {
                        pending.Push(inner);
                    }

                    break;
                default:
                    if (error.InnerException is { } cause)
                    {
                        pending.Push(cause);
                    }

                    break;
            }
        }

        return false;
    }

    /// <summary>The text of <c>--help</c> that documents these codes.</summary>
    public const string HelpText =
        """
        Exit codes:
          0    every record read was delivered (and verified, with --verify)
          1    unexpected error (after the pipeline started: what was accepted is drained, the summary printed),
               or --ensure-topic failed (nothing produced)
          2    bad arguments (unknown/invalid option, unreadable input, CSV header without the key field,
               a -X setting the Kafka client rejects, copy's source topic missing); nothing was produced
          3    some records failed (malformed input lines, or records Kafka refused)
          4    aborted (second Ctrl+C/SIGTERM, also during --verify; drain timeout; broken producer), even with
               nothing abandoned
          5    --verify: the topic does not hold exactly what was delivered, or could not be read
          130  stopped by a first Ctrl+C before the end of the input, everything read delivered (143: SIGTERM)
        When several apply, 5 wins over 4, 4 over 1, 1 over 3, and 3 over 130/143.
        """;
}
