namespace DataflowProducer.Cli.Tests.Copy;

/// <summary><c>copy</c>'s argument errors: found while parsing, before any client is built or anything connects.</summary>
public class CopyArgumentsTests
{
    private const string Servers = "127.0.0.1:9";

    [TestCase(new[] { "copy" }, CopyCommand.NeedsClusterMessage)]
    [TestCase(new[] { "copy", "-b", Servers }, "Option '--from-topic' is required")]
    [TestCase(new[] { "copy", "--from-topic", "a", "--group", "g", "-b", Servers }, "Option '--to-topic' is required")]
    [TestCase(new[] { "copy", "--from-topic", "a", "--to-topic", "b", "-b", Servers }, "Option '--group' is required")]
    [TestCase(new[] { "copy", "--from-topic", "a", "--to-topic", "b", "--group", " ", "-b", Servers }, "--group must not be empty")]
    [TestCase(new[] { "copy", "--from-topic", "a", "--to-topic", "b", "--group", "g" }, CopyCommand.NeedsClusterMessage)]
    [TestCase(new[] { "copy", "--from-topic", "bad topic", "--to-topic", "b", "--group", "g", "-b", Servers }, "--from-topic 'bad topic' is not a legal Kafka topic name: it contains ' '")]
    [TestCase(new[] { "copy", "--from-topic", "a", "--to-topic", "..", "--group", "g", "-b", Servers }, "--to-topic '..' is not a legal Kafka topic name: '.' and '..' are reserved")]
    [TestCase(new[] { "copy", "--from-topic", "orders", "--to-topic", "orders", "--group", "g", "-b", Servers }, "--from-topic and --to-topic are both 'orders': a topic cannot be copied onto itself")]
    [TestCase(new[] { "copy", "--from-topic", "a", "--to-topic", "b", "--group", "g", "-b", Servers, "--until-end", "--follow" }, "--until-end and --follow cannot be combined")]
    [TestCase(new[] { "copy", "--from-topic", "a", "--to-topic", "b", "--group", "g", "-b", Servers, "--batch-size", "500", "--bounded-capacity", "100" }, "--batch-size (500) must not exceed --bounded-capacity (100)")]
    [TestCase(new[] { "copy", "--from-topic", "a", "--to-topic", "b", "--group", "g", "-b", Servers, "-X", "session.timeout.ms" }, "-X needs key=value")]
    [TestCase(new[] { "copy", "--from-topic", "a", "--to-topic", "b", "--group", "g", "-b", Servers, "--input", "f.txt" }, "--input")]
    [CancelAfter(30_000)]
    public async Task RunAsync_BadCopyArguments_ClearMessageHintAndExitCode2(string[] args, string expected, CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(args).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.BadArguments));
            Assert.That(run.Error, Does.Contain(expected));
            Assert.That(run.Error, Does.Contain("Run 'dataflow-producer copy --help'"));
            Assert.That(run.Output, Is.Empty);
        });
    }

    [Test, CancelAfter(30_000)]
    public async Task RunAsync_ConsumerSettingTheSourceForbids_ExitCode2NamingItAndNoSummary(CancellationToken ct)
    {
        // Only the committer may store offsets: a consumer storing them itself would commit undelivered records.
        CliRun run = await CliRun.RunAsync(["copy", "--from-topic", "a", "--to-topic", "b", "--group", "g", "-b", Servers, "-X", "enable.auto.offset.store=true", "--quiet"]).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.BadArguments));
            Assert.That(run.Error, Does.Contain("error: the Kafka consumer could not be set up").And.Contain("'enable.auto.offset.store'"));
            Assert.That(run.Output, Is.Empty);
        });
    }

    [Test, CancelAfter(30_000)]
    public async Task RunAsync_CopyHelp_DescribesTheOptionsTheCommitAndTheExitCodes(CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(["copy", "--help"]).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Success));
            Assert.That(run.Output, Does.Contain("--from-topic").And.Contain("--to-topic").And.Contain("--group").And.Contain("--follow").And.Contain("--until-end"));
            Assert.That(run.Output, Does.Contain("--bootstrap-servers").And.Contain("-X").And.Contain("--json").And.Contain("--bounded-capacity"));
            Assert.That(run.Output, Does.Contain("committed only up to"));
            Assert.That(run.Output, Does.Contain("session.timeout.ms=30000"));
            Assert.That(run.Output, Does.Contain("Exit codes:"));
        });
    }
}
