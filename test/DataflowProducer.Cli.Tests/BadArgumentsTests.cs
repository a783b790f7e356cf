namespace DataflowProducer.Cli.Tests;

public class BadArgumentsTests
{
    [TestCase(new string[0], "Required command was not provided")]
    [TestCase(new[] { "produce" }, "Option '--topic' is required")]
    [TestCase(new[] { "produce", "--topic", "t", "--format", "xml" }, "xml")]
    [TestCase(new[] { "produce", "--topic", "t", "--generate", "5", "--input", "f.txt" }, "--generate and --input cannot be combined")]
    [TestCase(new[] { "produce", "--topic", "t", "--key-field", "id" }, "--key-field needs --format jsonl or csv")]
    [TestCase(new[] { "produce", "--topic", "t", "--generate", "5", "--size", "3" }, "--size must be at least 13, but was 3")]
    [TestCase(new[] { "produce", "--topic", "t", "--batch-size", "0" }, "--batch-size must be at least 1, but was 0")]
    [TestCase(new[] { "produce", "--topic", "t", "--batch-size", "500", "--bounded-capacity", "100" }, "--batch-size (500) must not exceed --bounded-capacity (100)")]
    [TestCase(new[] { "produce", "--topic", "t", "--linger", "0" }, "--linger must be at least 1, or -1, but was 0")]
    [TestCase(new[] { "produce", "--topic", "t", "-X", "linger.ms" }, "-X needs key=value")]
    [TestCase(new[] { "produce", "--topic", "t", "--no-such-option" }, "--no-such-option")]
    public async Task RunAsync_BadArguments_ClearMessageAndExitCode2(string[] args, string expected)
    {
        CliRun run = await CliRun.RunAsync(args);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Error, Does.Contain(expected));
            Assert.That(run.Output, Is.Empty);
        });
    }

    // Checked while parsing, before an embedded cluster is started or anything is read.
    [TestCase("bad topic", "it contains ' '")]
    [TestCase(".", "'.' and '..' are reserved")]
    [TestCase("..", "'.' and '..' are reserved")]
    [TestCase("t\u00f6pic", "it contains '\u00f6'")]
    [TestCase("a/b", "it contains '/'")]
    [TestCase("250", "it is 250 characters long, more than 249")]
    public async Task RunAsync_IllegalTopicName_ExitCode2NamingTopicBeforeStartingAnything(string topic, string why)
    {
        if (topic == "250")
        {
            topic = new string('x', 250);
        }

        CliRun run = await CliRun.RunAsync(["produce", "--topic", topic, "--generate", "5"]);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Error, Does.Contain("--topic").And.Contain(why));
            Assert.That(run.Error, Does.Not.Contain("embedded Kafka cluster").And.Not.Contain("KafkaSinkOptions"));
            Assert.That(run.Output, Is.Empty);
        });
    }

    [TestCase("a")]
    [TestCase("orders.v2_EU-west")]
    [TestCase("...")]
    public async Task RunAsync_LegalTopicName_NoTopicError(string topic)
    {
        CliRun run = await CliRun.RunAsync(["produce", "--topic", topic, "--generate", "5", "--size", "3"]);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2), "stopped by --size, which proves parsing ran");
            Assert.That(run.Error, Does.Not.Contain("--topic"));
        });
    }

    [Test]
    public async Task RunAsync_MissingInputFile_ExitCode2NamingTheFile()
    {
        CliRun run = await CliRun.RunAsync(["produce", "--topic", "t", "--input", "/no/such/file.txt", "--bootstrap-servers", "127.0.0.1:1"]);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Error, Does.Contain("cannot open the input file '/no/such/file.txt'"));
        });
    }

    [Test]
    public async Task RunAsync_Help_DocumentsExitCodesAndSummaryLine()
    {
        CliRun run = await CliRun.RunAsync(["produce", "--help"]);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(0));
            Assert.That(run.Output, Does.Contain("Exit codes:").And.Contain("SUMMARY accepted=<n>").And.Contain("--abandoned-file"));
        });
    }
}
