using System.Diagnostics;
using System.Globalization;
using DataflowProducer.Cli.Output;

namespace DataflowProducer.Cli.Verification;

/// <summary>What <c>--verify</c> concludes: the summary table's line, and what it means for the exit code.</summary>
/// <param name="Text">The summary table's <c>verify</c> line.</param>
/// <param name="Failed">True when the topic does not hold what was delivered, or could not be read back.</param>
/// <param name="Canceled">True when a second signal canceled the read-back.</param>
internal sealed record VerificationVerdict(string Text, bool Failed = false, bool Canceled = false)
{
    /// <summary>The verdict when the read-back could not even start: nothing was produced.</summary>
    public static VerificationVerdict CannotStart { get; } = new("FAILED: the topic cannot be read", Failed: true);

    /// <summary>Finishes the read-back, with its progress, and concludes.</summary>
    /// <param name="verifier">The read-back, started before the run.</param>
    /// <param name="expected">What was delivered: what was sent, less what failed or was abandoned.</param>
    /// <param name="abandoned">How many records the run abandoned.</param>
    /// <param name="shutdown">The signals: a second one cancels the read-back.</param>
    /// <param name="reporter">Where the progress goes.</param>
    /// <returns>The verdict; never throws.</returns>
    public static async Task<VerificationVerdict> ReachAsync(TopicVerifier verifier, ContentDigest expected, long abandoned, ShutdownSignal shutdown, Reporter reporter)
    {
        if (abandoned > 0)
        {
            return new("skipped: records were abandoned, and whether they reached Kafka is unknown");
        }

        var stopwatch = Stopwatch.StartNew();
        VerificationRead read;
        try
        {
            await using (Progress.Start(reporter, () => $"verifying: {Summary.Count(verifier.RecordsRead)} of {Summary.Count(expected.Count)} records read back", TimeProvider.System).ConfigureAwait(false))
            {
                read = await verifier.FinishAsync(shutdown.Aborting).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            return new($"canceled by a second {ShutdownSignal.Describe(shutdown.SecondSignal)}", Canceled: true);
        }
#pragma warning disable CA1031 // Whatever stops the read-back (Kafka, a timeout, anything else), the verdict is the same.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return new($"FAILED: the topic could not be read back: {ex.GetType().Name}: {ex.Message}", Failed: true);
        }

        return From(read, expected, stopwatch.Elapsed);
    }

    /// <summary>Concludes from what was read back.</summary>
    /// <param name="read">What the read-back found.</param>
    /// <param name="expected">What was delivered.</param>
    /// <param name="readBackTime">How long the read-back took after the drain.</param>
    /// <returns>The verdict.</returns>
    public static VerificationVerdict From(VerificationRead read, ContentDigest expected, TimeSpan readBackTime)
    {
        string seconds = readBackTime.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture);
        ContentDigest actual = read.Digest;
        if (read.Appended != expected.Count)
        {
            return new($"FAILED: the topic grew by {Summary.Count(read.Appended)} records, but {Summary.Count(expected.Count)} were delivered", Failed: true);
        }

        if (read.Missing > 0)
        {
            return new($"count OK ({Summary.Count(read.Appended)} appended); content of {Summary.Count(read.Missing)} records NOT checked: the broker dropped them (retention) before they were read back. " +
                "The embedded cluster keeps about 5 MB per partition: use more --partitions.");
        }

        if (!actual.Matches(expected))
        {
            return new($"FAILED: read back {Summary.Count(actual.Count)} records (digest {actual}), but {Summary.Count(expected.Count)} were delivered (digest {expected})", Failed: true);
        }

        return new($"OK: {Summary.Count(actual.Count)} records read back (the last ones {seconds} s after the drain), content digest {actual} matches");
    }
}
