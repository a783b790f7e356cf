using System.CommandLine;

namespace DataflowProducer.Cli.Tests;

// The pipeline options both produce and copy share: --adaptive turns adaptive batching on with clamps that always hold.
public class PipelineCommandOptionsTests
{
    private static BatchProducerOptions Parse(params string[] args)
    {
        var shared = new PipelineCommandOptions("brokers");
        var command = new RootCommand();
        foreach (Option option in shared.ConnectionOptions.Concat(shared.PipelineAndOutputOptions))
        {
            command.Options.Add(option);
        }

        ParseResult parse = command.Parse(args);
        Assert.That(parse.Errors, Is.Empty);
        return shared.Pipeline(parse);
    }

    [Test]
    public void Pipeline_WithoutAdaptive_AdaptiveBatchingOff()
    {
        Assert.That(Parse().Adaptive, Is.Null);
    }

    [Test]
    public void Pipeline_Adaptive_TheDefaultsAndValid()
    {
        BatchProducerOptions options = Parse("--adaptive");

        Assert.That(options.Adaptive, Is.Not.Null);
        Assert.Multiple(() =>
        {
            Assert.That(options.Adaptive!.MaxBatchSize, Is.EqualTo(20_000));
            Assert.That(options.Adaptive.MaxLinger, Is.EqualTo(TimeSpan.FromMilliseconds(500)));
            Assert.That(options.Validate(), Is.Empty);
        });
    }

    [TestCase(new[] { "--bounded-capacity", "5000" }, 5000, 500)]
    [TestCase(new[] { "--batch-size", "50000", "--bounded-capacity", "-1" }, 50_000, 500)]
    [TestCase(new[] { "--linger", "2000" }, 20_000, 2000)]
    [TestCase(new[] { "--linger", "-1" }, 20_000, 500)]
    public void Pipeline_AdaptiveWithOtherSettings_ClampsMovedSoTheOptionsAreValid(string[] args, int maxBatchSize, int maxLingerMs)
    {
        BatchProducerOptions options = Parse([.. args, "--adaptive"]);

        Assert.Multiple(() =>
        {
            Assert.That(options.Adaptive!.MaxBatchSize, Is.EqualTo(maxBatchSize));
            Assert.That(options.Adaptive.MaxLinger, Is.EqualTo(TimeSpan.FromMilliseconds(maxLingerMs)));
            Assert.That(options.Validate(), Is.Empty);
        });
    }

    [TestCase("produce")]
    [TestCase("copy")]
    [CancelAfter(30_000)]
    public async Task Help_BothCommands_ListAdaptive(string command)
    {
        CliRun run = await CliRun.RunAsync([command, "--help"]);

        Assert.That(run.Output, Does.Contain("--adaptive"));
    }
}
