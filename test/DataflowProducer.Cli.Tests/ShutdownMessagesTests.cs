using System.Runtime.InteropServices;

namespace DataflowProducer.Cli.Tests;

/// <summary>What the tool says on a signal, checked with signals requested before the run: the job sees them as it
/// starts, so nothing depends on timing.</summary>
public class ShutdownMessagesTests
{
    // Nothing listens on port 1; nothing is read before the stop either.
    private static readonly string[] Args = ["produce", "--topic", "t", "--bootstrap-servers", "127.0.0.1:1"];

    [TestCase(PosixSignal.SIGTERM, "Stopping on SIGTERM", "Send SIGTERM again to abort.", "Ctrl+C", ExitCodes.InterruptedBySigterm)]
    [TestCase(PosixSignal.SIGINT, "Stopping on Ctrl+C", "Press Ctrl+C again to abort.", "SIGTERM", ExitCodes.InterruptedBySigint)]
    [CancelAfter(30_000)]
    public async Task RunAsync_FirstSignal_NamesTheSignalReceivedAndHowToAbort(PosixSignal signal, string stopping, string howToAbort, string notMentioned, int exitCode, CancellationToken ct)
    {
        using var shutdown = new ShutdownSignal();
        shutdown.Request(signal);

        CliRun run = await CliRun.RunAsync(Args, () => new BlockingInput(), shutdown).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(exitCode), run.Error);
            Assert.That(run.Error, Does.Contain(stopping).And.Contain(howToAbort));
            Assert.That(run.Error, Does.Not.Contain(notMentioned));
            Assert.That(run.Summary["accepted"], Is.EqualTo("0"));
        });
    }

    [TestCase(PosixSignal.SIGTERM, "Aborting on a second SIGTERM")]
    [TestCase(PosixSignal.SIGINT, "Aborting on a second Ctrl+C")]
    [CancelAfter(30_000)]
    public async Task RunAsync_SecondSignalWithNothingToAbandon_AbortedExitCode4(PosixSignal signal, string aborting, CancellationToken ct)
    {
        using var shutdown = new ShutdownSignal();
        shutdown.Request(signal);
        shutdown.Request(signal);

        CliRun run = await CliRun.RunAsync(Args, () => new BlockingInput(), shutdown).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Abandoned), run.Error);
            Assert.That(run.Error, Does.Contain(aborting));
            Assert.That(run.Summary["abandoned"], Is.EqualTo("0"));
        });
    }
}
