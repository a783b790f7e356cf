using DataflowProducer.Kafka.Testing;
using DataflowProducer.Tests.Shared;

namespace DataflowProducer.Cli.Tests.Integration;

/// <summary>Passwords given with -X never appear in the tool's output: not in the configuration it shows, the
/// progress, librdkafka's messages, errors, or the summary.</summary>
[Category(TestCategories.Integration)]
public class SecretsLeakTests
{
    private const string SaslPassword = "cli-sasl-Secret-5d20";
    private const string SslKeyPassword = "cli-key-Secret-a7c3";

    [TestCase("sasl_plaintext", null)]
    [TestCase("plaintext", null)]
    [TestCase("plaintext", "no.such.property=1")]
    [CancelAfter(60_000)]
    public async Task Produce_PasswordsGivenWithX_NeverInStandardOutputOrError(string protocol, string? extra, CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        string topic = $"cli-secrets-{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, 2);
        string[] args =
        [
            "produce", "--topic", topic, "--bootstrap-servers", cluster.BootstrapServers, "--generate", "20", "--show-config", "--drain-timeout", "10000",
            "-X", $"security.protocol={protocol}", "-X", "sasl.mechanism=PLAIN", "-X", "sasl.username=alice",
            "-X", $"sasl.password={SaslPassword}", "-X", $"ssl.key.password={SslKeyPassword}", "-X", "message.timeout.ms=3000",
            "-X", "debug=conf,security,broker",
            .. extra is null ? Array.Empty<string>() : ["-X", extra],
        ];

        CliRun run = await CliRun.RunAsync(args).WaitAsync(ct);

        string all = run.Output + run.Error;
        TestContext.Out.WriteLine($"exit {run.ExitCode}; {all.Length} characters of output; stdout: {run.Output.Trim()}");
        Assert.Multiple(() =>
        {
            Assert.That(run.Error, Does.Contain("sasl.password"), "the configuration was not shown: the test proves nothing");
            Assert.That(all, Does.Not.Contain(SaslPassword), "sasl.password leaked");
            Assert.That(all, Does.Not.Contain(SslKeyPassword), "ssl.key.password leaked");
        });
    }
}
