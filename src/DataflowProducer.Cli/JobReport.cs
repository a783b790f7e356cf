using DataflowProducer.Cli.Output;

namespace DataflowProducer.Cli;

/// <summary>What <c>produce</c> and <c>copy</c> report the same way: an unexpected error (remembered for the exit
/// code), the summary at the end, and a failure while setting up, before anything was accepted.</summary>
internal sealed class JobReport(CliConsole console, Reporter reporter, bool json)
{
    private int _unexpectedError;

    /// <summary>True once an unexpected error was reported (exit code 1).</summary>
    public bool UnexpectedError => Volatile.Read(ref _unexpectedError) != 0;

    public void Unexpected(Exception error, string what, string then)
    {
        Volatile.Write(ref _unexpectedError, 1);
        reporter.Line($"error: {what} failed unexpectedly ({error.GetType().Name}: {error.Message}); {then}");
    }

    public Task SummaryAsync(Summary summary, List<(string, string)> rows) => PipelineRun.ReportAsync(console, reporter, json, summary, rows);

    /// <summary>Runs a job; a failure before its pipeline started (nothing accepted yet) still ends with a summary of
    /// nothing and exit code 1.</summary>
    /// <param name="run">The job.</param>
    /// <param name="pipelineStarted">Whether the pipeline has started: from then on the job reports its own errors.</param>
    /// <param name="setUp">What was being done, for the message (for example "setting up the run").</param>
    /// <param name="nothingDone">What that means, for the message (for example "nothing was produced.").</param>
    /// <param name="notRead">The summary's row for the input that was not read.</param>
    public async Task<int> RunAsync(Func<Task<int>> run, Func<bool> pipelineStarted, string setUp, string nothingDone, (string, string) notRead)
    {
        try
        {
            return await run().ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Before the pipeline started nothing was accepted; the run still ends with its summary.
        catch (Exception ex) when (!pipelineStarted())
#pragma warning restore CA1031
        {
            Unexpected(ex, setUp, nothingDone);
            await SummaryAsync(Summary.Nothing, [notRead]).ConfigureAwait(false);
            return ExitCodes.UnexpectedError;
        }
    }
}
