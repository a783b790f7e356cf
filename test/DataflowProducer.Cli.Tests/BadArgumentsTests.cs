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
    [TestCase(new[] { "produce", "--topic", "t", "--bounded-bytes", "lots" }, "--bounded-bytes: 'lots' is not a size")]
    [TestCase(new[] { "produce", "--topic", "t", "--bounded-bytes", "0" }, "--bounded-bytes: '0' is not a size")]
    [TestCase(new[] { "produce", "--topic", "t", "--max-batch-bytes", "12X" }, "--max-batch-bytes: '12X' is not a size")]
    [TestCase(new[] { "produce", "--topic", "t", "--bounded-bytes", "1M", "--max-batch-bytes", "2M" }, "--max-batch-bytes (2097152) must not exceed --bounded-bytes (1048576)")]
    [TestCase(new[] { "produce", "--topic", "t", "--linger", "0" }, "--linger must be at least 1, or -1, but was 0")]
    [TestCase(new[] { "produce", "--topic", "t", "-X", "linger.ms" }, "-X needs key=value")]
    [TestCase(new[] { "produce", "--topic", "t", "--no-such-option" }, "--no-such-option")]
    [TestCase(new[] { "produce", "--topic", "t", "--generate", "5", "--abandoned-file", "/no/such/directory/abandoned.txt" }, "--abandoned-file '/no/such/directory/abandoned.txt': the directory '/no/such/directory' does not exist")]
    [TestCase(new[] { "produce", "--topic", "t", "--generate", "5", "--abandoned-file", "." }, "--abandoned-file '.' is a directory")]
    [CancelAfter(30_000)]
    public async Task RunAsync_BadArguments_ClearMessageAndExitCode2(string[] args, string expected, CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(args).WaitAsync(ct);

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
    [CancelAfter(30_000)]
    public async Task RunAsync_IllegalTopicName_ExitCode2NamingTopicBeforeStartingAnything(string topic, string why, CancellationToken ct)
    {
        if (topic == "250")
        {
            topic = new string('x', 250);
        }

        CliRun run = await CliRun.RunAsync(["produce", "--topic", topic, "--generate", "5"]).WaitAsync(ct);

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
    [CancelAfter(30_000)]
    public async Task RunAsync_LegalTopicName_NoTopicError(string topic, CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(["produce", "--topic", topic, "--generate", "5", "--size", "3"]).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2), "stopped by --size, which proves parsing ran");
            Assert.That(run.Error, Does.Not.Contain("--topic"));
        });
    }

    // The value of a secret setting typed without '=' (or after a stray space) is left over as an unknown argument;
    // the parse error must not echo it.
    [TestCase("-X", "sasl.password", "hunter2-secret")]
    [TestCase("-X", "sasl.password=", "hunter2-secret")]
    [TestCase("-X", "sasl.pasword", "hunter2-secret")]
    [TestCase("-X", "ssl.key.password", "ab")]
    [TestCase("--property", "sasl.oauthbearer.client.secret", "hunter2-secret")]
    [CancelAfter(30_000)]
    public async Task RunAsync_SecretValueLeftOverAsAnArgument_ExitCode2WithoutTheSecret(string option, string key, string secret, CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(["produce", "--topic", "t", "--generate", "5", option, key, secret]).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Error, Does.Contain("Unrecognized command or argument"), "the parse error the test is about");
            Assert.That(run.Error + run.Output, Does.Not.Contain($"'{secret}'"));
            Assert.That(run.Error + run.Output, secret.Length >= 4 ? Does.Not.Contain(secret) : Does.Contain("'[redacted]'"));
        });
    }

    // -X with ':' or a space where '=' belongs: the argument holds the secret itself, so it is not echoed.
    [TestCase("sasl.pasword:hunter2xyz")]
    [TestCase("sasl.pasword hunter2xyz")]
    [TestCase("sasl.password:hunter2xyz")]
    [CancelAfter(30_000)]
    public async Task RunAsync_SettingWithoutEquals_ExitCode2WithoutEchoingIt(string setting, CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(["produce", "--topic", "t", "--generate", "5", "-X", setting]).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Error, Does.Contain("-X needs key=value"));
            Assert.That(run.Error + run.Output, Does.Not.Contain("hunter2xyz"));
        });
    }

    [Test, CancelAfter(30_000)]
    public async Task RunAsync_SecretInAResponseFile_ParseErrorWithoutTheSecret(CancellationToken ct)
    {
        string file = Path.Combine(TestContext.CurrentContext.WorkDirectory, $"args-{Guid.NewGuid():N}.rsp");
        await File.WriteAllTextAsync(file, "produce --topic t --generate 5\n-X sasl.password rsp-Secret-77\n", ct);
        try
        {
            CliRun run = await CliRun.RunAsync(["@" + file]).WaitAsync(ct);

            Assert.Multiple(() =>
            {
                Assert.That(run.ExitCode, Is.EqualTo(2));
                Assert.That(run.Error, Does.Contain("Unrecognized command or argument"));
                Assert.That(run.Error + run.Output, Does.Not.Contain("rsp-Secret-77"));
            });
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test, CancelAfter(30_000)]
    public async Task RunAsync_MistypedSecretKeyWithShowConfig_ValueMaskedAndKeyRejected(CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(["produce", "--topic", "t", "--generate", "5", "--bootstrap-servers", "127.0.0.1:1", "--show-config", "-X", "sasl.pasword=typo-Secret-42"]).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2), run.Error);
            Assert.That(run.Error, Does.Contain("sasl.pasword = [redacted]"));
            Assert.That(run.Error + run.Output, Does.Not.Contain("typo-Secret-42"));
        });
    }

    [Test, CancelAfter(30_000)]
    public async Task RunAsync_SettingTheClientRejects_ExitCode2NamingItInTheToolsTerms(CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(["produce", "--topic", "t", "--generate", "5", "--bootstrap-servers", "127.0.0.1:1", "-X", "no.such.setting=1"]).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2), run.Error);
            Assert.That(run.Error, Does.Contain("no.such.setting"));
            Assert.That(run.Error, Does.Not.Contain("(Parameter"), "a .NET parameter name means nothing on the command line");
            Assert.That(run.Output, Is.Empty);
        });
    }

    [Test, CancelAfter(30_000)]
    public async Task RunAsync_MissingInputFile_ExitCode2NamingTheFile(CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(["produce", "--topic", "t", "--input", "/no/such/file.txt", "--bootstrap-servers", "127.0.0.1:1"]).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Error, Does.Contain("cannot open the input file '/no/such/file.txt'"));
        });
    }

    [Test, CancelAfter(30_000)]
    public async Task RunAsync_Help_DocumentsExitCodesAndSummaryLine(CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(["produce", "--help"]).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(0));
            Assert.That(run.Output, Does.Contain("Exit codes:").And.Contain("SUMMARY accepted=<n>").And.Contain("--abandoned-file"));
        });
    }
}
