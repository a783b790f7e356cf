namespace DataflowProducer.Cli.Tests;

public class ByteSizeTests
{
    [TestCase("67108864", 67_108_864L)]
    [TestCase("64K", 65_536L)]
    [TestCase("64M", 67_108_864L)]
    [TestCase("64mb", 67_108_864L)]
    [TestCase("2G", 2_147_483_648L)]
    [TestCase("100B", 100L)]
    [TestCase("-1", -1L)]
    public void TryParse_Size_Bytes(string text, long expected)
    {
        string? error = ByteSize.TryParse(text, out long value);

        Assert.Multiple(() =>
        {
            Assert.That(error, Is.Null);
            Assert.That(value, Is.EqualTo(expected));
        });
    }

    [TestCase("")]
    [TestCase("0")]
    [TestCase("-5")]
    [TestCase("M")]
    [TestCase("1.5M")]
    [TestCase("9999999999G")]
    public void TryParse_NotASize_ErrorNamesTheText(string text)
    {
        Assert.That(ByteSize.TryParse(text, out _), Does.Contain($"'{text}' is not a size"));
    }

    [Test]
    public void Pipeline_BytesOptionsGiven_ReachTheOptions()
    {
        var shared = new PipelineCommandOptions("servers");
        var command = new System.CommandLine.RootCommand();
        foreach (System.CommandLine.Option option in shared.PipelineAndOutputOptions)
        {
            command.Options.Add(option);
        }

        BatchProducerOptions options = shared.Pipeline(command.Parse(["--bounded-bytes", "64M", "--max-batch-bytes", "1M"]));

        Assert.That((options.BoundedBytes, options.MaxBatchBytes), Is.EqualTo((64L << 20, 1L << 20)));
    }
}
