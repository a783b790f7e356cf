using DataflowProducer.Kafka.Testing;
using DataflowProducer.Tests.Shared;

namespace DataflowProducer.Cli.Tests.Copy;

/// <summary>The copy, as a child process against a mock cluster in this test process, SIGKILLed at random moments
/// and restarted: the destination ends up with every record of the source.</summary>
[Category(TestCategories.Integration)]
public class CopyKillTests
{
    [Test, CancelAfter(300_000)]
    public async Task Copy_SigkilledThreeTimesAndRestarted_EveryRecordCopiedInOrderPerKeyDuplicatesWithinWhatWasInFlight(CancellationToken ct)
    {
        const int Records = 50_000;
        const int Keys = 100;
        const int Kills = 3;
        int seed = CopyKillScenario.Seed();
        TestContext.Out.WriteLine($"seed {seed}");

        using var cluster = MockKafkaCluster.Start(3);
        string id = Guid.NewGuid().ToString("N");
        string from = $"kill-from-{id}";
        string to = $"kill-to-{id}";
        cluster.CreateTopic(from, 4);
        cluster.CreateTopic(to, 4);
        var scenario = new CopyKillScenario(new Confluent.Kafka.ClientConfig { BootstrapServers = cluster.BootstrapServers }, [], from, to);

        await scenario.RunAsync(Records, Keys, Kills, seed, headersAndTimestamps: true, ct);

        CopyCheck check = KeyedTopic.Check(TopicReader.ReadAll(cluster.BootstrapServers, to, TimeSpan.FromSeconds(120)), Records, Keys);
        Report(scenario, check, seed);
        AssertCopied(scenario, check, Kills);
    }

    internal static void Report(CopyKillScenario scenario, CopyCheck check, int seed)
    {
        TestContext.Out.WriteLine($"seed {seed} (replay the kill moments with {CopyKillScenario.SeedVariable}={seed})");
        foreach (KillFigures kill in scenario.Kills)
        {
            TestContext.Out.WriteLine(kill.ToString());
        }

        TestContext.Out.WriteLine($"final run: exit {scenario.FinalExitCode}; {scenario.FinalRunOutput.Split('\n')[0].Trim()}");
        TestContext.Out.WriteLine($"destination: {check}; lost = {check.Lost}");
    }

    internal static void AssertCopied(CopyKillScenario scenario, CopyCheck check, int kills)
    {
        Assert.Multiple(() =>
        {
            Assert.That(scenario.Kills, Has.Count.EqualTo(kills));
            Assert.That(scenario.FinalExitCode, Is.EqualTo(ExitCodes.Success), scenario.FinalRunOutput);
            Assert.That(CliRun.ParseSummary(scenario.FinalRunOutput)["abandoned"], Is.EqualTo("0"));
            Assert.That(check.Lost, Is.Zero, check.ToString());
            Assert.That(check.Problems, Is.Empty, "per-key order, duplicates removed keeping first occurrences");
            foreach (KillFigures kill in scenario.Kills)
            {
                Assert.That(kill.Duplicates, Is.InRange(0, kill.Bound), kill.ToString());

                // A kill that came after the copy was done would prove nothing.
                Assert.That(kill.Committed, Is.LessThan(scenario.Records), "the kill came after the copy was complete: " + kill);
            }

            Assert.That(check.Duplicates, Is.LessThanOrEqualTo(scenario.Kills.Sum(k => k.Bound)), check.ToString());
        });
    }
}
