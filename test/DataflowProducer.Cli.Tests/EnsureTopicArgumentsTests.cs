namespace DataflowProducer.Cli.Tests;

/// <summary><c>--ensure-topic</c> and <c>--topic-config</c>: bad values are usage errors (exit code 2) with a message
/// that names the option and the value, found before anything starts.</summary>
public class EnsureTopicArgumentsTests
{
    [TestCase("0", "--ensure-topic partitions must be at least 1, but was 0.")]
    [TestCase("-2", "--ensure-topic partitions must be at least 1, but was -2.")]
    [TestCase("3,0", "--ensure-topic replication factor must be from 1 to 32767, but was 0.")]
    [TestCase("3,-1", "--ensure-topic replication factor must be from 1 to 32767, but was -1.")]
    [TestCase("six", "--ensure-topic must be PARTITIONS or PARTITIONS,REPLICATION (whole numbers, e.g. 6 or 6,3), but was 'six'.")]
    [TestCase("3,x", "--ensure-topic must be PARTITIONS or PARTITIONS,REPLICATION (whole numbers, e.g. 6 or 6,3), but was '3,x'.")]
    [TestCase("3,2,1", "--ensure-topic must be PARTITIONS or PARTITIONS,REPLICATION (whole numbers, e.g. 6 or 6,3), but was '3,2,1'.")]
    [TestCase("3,", "--ensure-topic must be PARTITIONS or PARTITIONS,REPLICATION (whole numbers, e.g. 6 or 6,3), but was '3,'.")]
    [TestCase("", "--ensure-topic must be PARTITIONS or PARTITIONS,REPLICATION (whole numbers, e.g. 6 or 6,3), but was ''.")]
    [TestCase("3,4", "--ensure-topic replication factor 4 exceeds the embedded cluster's 3 brokers.")]
    [CancelAfter(30_000)]
    public async Task RunAsync_BadEnsureTopic_ExitCode2NamingTheValue(string value, string expected, CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(["produce", "--topic", "t", "--generate", "5", "--ensure-topic", value]).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Error, Does.Contain(expected));
            Assert.That(run.Error, Does.Not.Contain("embedded Kafka cluster"));
            Assert.That(run.Output, Is.Empty);
        });
    }

    [TestCase(new[] { "--topic-config", "retention.ms=1" }, "--topic-config needs --ensure-topic.")]
    [TestCase(new[] { "-b", "127.0.0.1:1", "--ensure-topic", "3", "--topic-config", "retention.ms" }, "--topic-config needs KEY=VALUE, but was 'retention.ms'.")]
    [TestCase(new[] { "-b", "127.0.0.1:1", "--ensure-topic", "3", "--topic-config", "=1" }, "--topic-config needs KEY=VALUE, but was '=1'.")]
    [TestCase(new[] { "--ensure-topic", "3", "--topic-config", "retention.ms=1" }, "--topic-config needs --bootstrap-servers: the embedded mock cluster has no topic configs.")]
    [TestCase(new[] { "--ensure-topic", "3", "--partitions", "5" }, "--partitions and --ensure-topic cannot be combined: --ensure-topic gives the partitions.")]
    [CancelAfter(30_000)]
    public async Task RunAsync_BadTopicConfigCombination_ExitCode2WithClearMessage(string[] more, string expected, CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(["produce", "--topic", "t", "--generate", "5", .. more]).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Error, Does.Contain(expected));
            Assert.That(run.Output, Is.Empty);
        });
    }

    [TestCase("retention.ms=86400000", "retention.ms", "86400000")]
    [TestCase(" retention.ms = 86400000 ", "retention.ms", "86400000")]
    [TestCase("cleanup.policy=compact,delete", "cleanup.policy", "compact,delete")]
    [TestCase("message.format.version=", "message.format.version", "")]
    public void ParseConfig_KeyAndValue_BothTrimmed(string text, string key, string value)
    {
        Assert.That(EnsureTopicArguments.ParseConfig(text), Is.EqualTo((key, value)));
    }

    [Test, CancelAfter(60_000)]
    public async Task RunAsync_EnsureTopicOnTheEmbeddedCluster_TopicHasTheAskedPartitionsAndIsVerified(CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(["produce", "--topic", "t", "--generate", "50", "--quiet", "--ensure-topic", "6,2"]).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
            Assert.That(run.Error, Does.Contain("topic 't' with 6 partitions"));
            Assert.That(run.Error, Does.Contain("Topic 't' exists with 6 partitions."));
            Assert.That(run.Summary["delivered"], Is.EqualTo("50"));
        });
    }
}
