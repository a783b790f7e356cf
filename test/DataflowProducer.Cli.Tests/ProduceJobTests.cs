namespace DataflowProducer.Cli.Tests;

public class ProduceJobTests
{
    // Nothing listens on port 1: nothing is delivered, and no test here needs anything to be.
    private static readonly string[] Unreachable = ["--bootstrap-servers", "127.0.0.1:1", "--quiet"];

    [Test, CancelAfter(30_000)]
    public async Task RunAsync_InputFailsBeforeTheCsvHeader_ErrorNamedSummaryPrintedExitCode1(CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(["produce", "--topic", "t", "--format", "csv", .. Unreachable], () => new FailingInput([], "the pipe broke")).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.UnexpectedError), run.Error);
            Assert.That(run.Error, Does.Contain("the pipe broke"));
            Assert.That(run.Summary["accepted"], Is.EqualTo("0"));
        });
    }

    [Test, CancelAfter(30_000)]
    public async Task RunAsync_InputFailsAtTheFirstRead_ErrorNamedSummaryPrintedExitCode1(CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(["produce", "--topic", "t", .. Unreachable], () => new FailingInput([], "the pipe broke")).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.UnexpectedError), run.Error);
            Assert.That(run.Error, Does.Contain("the pipe broke"));
            Assert.That(run.Summary["accepted"], Is.EqualTo("0"));
        });
    }
}
