using System.Diagnostics;
using System.Text;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Tests.Shared;

namespace DataflowProducer.Cli.Tests.Integration;

/// <summary>The built tool as a process (<c>dotnet dataflow-producer.dll</c>), against a mock cluster in this test
/// process, so the topic can be read back after the tool exits.</summary>
[Category(TestCategories.Integration)]
public class ProcessTests
{
    [Test, CancelAfter(120_000)]
    public async Task Process_Generate20000WithVerify_SummaryLineAndExitCode0(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        string topic = $"process-{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, 4);

        using Process process = Start("produce", "--topic", topic, "--bootstrap-servers", cluster.BootstrapServers, "--generate", "20000", "--verify");
        process.StandardInput.Close();
        Task<string> error = process.StandardError.ReadToEndAsync(ct);
        string output = await process.StandardOutput.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);

        Dictionary<string, string> summary = CliRun.ParseSummary(output);
        Assert.Multiple(async () =>
        {
            Assert.That(process.ExitCode, Is.EqualTo(0), await error);
            Assert.That(summary["accepted"], Is.EqualTo("20000"));
            Assert.That(summary["delivered"], Is.EqualTo("20000"));
            Assert.That(summary["failed"], Is.EqualTo("0"));
            Assert.That(summary["abandoned"], Is.EqualTo("0"));
            Assert.That(await error, Does.Contain("OK: 20,000 records read back"));
            Assert.That(TopicReader.CountMessages(cluster.BootstrapServers, topic), Is.EqualTo(20000));
        });
    }

    [Test, CancelAfter(120_000)]
    public async Task Process_SigtermWhileReadingSlowStandardInput_AcceptedEqualsTopicAndNothingAbandoned(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        string topic = $"sigterm-{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, 4);

        using Process process = Start("produce", "--topic", topic, "--bootstrap-servers", cluster.BootstrapServers, "--format", "jsonl", "--key-field", "id", "--linger", "200");
        var errorText = new StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            lock (errorText)
            {
                errorText.AppendLine(e.Data);
            }
        };
        process.BeginErrorReadLine();
        Task<string> output = process.StandardOutput.ReadToEndAsync(ct);

        // A slow producer of input: lines with pauses. SIGTERM comes only once the first 50 are in the topic, however
        // long the tool takes to start and read them (the test used to give it as long as writing took, under 1 s):
        // then its signal handling is in place, and those 50 are certainly read. The last 10 are written just before
        // SIGTERM: read or not when it comes, lingering or not, each one is either accepted and delivered or never read.
        int written = 0;
        for (; written < 60; written++)
        {
            if (written == 50)
            {
                while (!process.HasExited && TopicReader.CountMessages(cluster.BootstrapServers, topic) < 50)
                {
                    await Task.Delay(50, ct);
                }
            }

            await process.StandardInput.WriteLineAsync($"{{\"id\":\"k{written % 5}\",\"n\":{written}}}".AsMemory(), ct);
            await process.StandardInput.FlushAsync(ct);
            await Task.Delay(written % 10 == 9 ? 100 : 5, ct);
        }

        var stopwatch = Stopwatch.StartNew();
        using (Process kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync(ct);
        }

        // Lines written after the signal are never read: they are not accepted, and not in the topic.
        for (int i = 0; i < 20 && !process.HasExited; i++)
        {
            try
            {
                await process.StandardInput.WriteLineAsync($"{{\"id\":\"late\",\"n\":{written + i}}}".AsMemory(), ct);
                await process.StandardInput.FlushAsync(ct);
            }
            catch (IOException)
            {
                break;
            }
        }

        await process.WaitForExitAsync(ct);
        TestContext.Out.WriteLine($"exit {process.ExitCode} {stopwatch.Elapsed.TotalSeconds:F2} s after SIGTERM; {await output}");
        Dictionary<string, string> summary = CliRun.ParseSummary(await output);
        long inTopic = TopicReader.CountMessages(cluster.BootstrapServers, topic);
        Assert.Multiple(() =>
        {
            Assert.That(process.ExitCode, Is.EqualTo(143), errorText.ToString());
            Assert.That(summary["abandoned"], Is.EqualTo("0"));
            Assert.That(summary["failed"], Is.EqualTo("0"));
            Assert.That(long.Parse(summary["accepted"], System.Globalization.CultureInfo.InvariantCulture), Is.EqualTo(inTopic));
            Assert.That(summary["delivered"], Is.EqualTo(summary["accepted"]));
            Assert.That(inTopic, Is.InRange(50, 80));
        });
    }

    private static Process Start(params string[] args) => ToolProcess.Start(args);
}
