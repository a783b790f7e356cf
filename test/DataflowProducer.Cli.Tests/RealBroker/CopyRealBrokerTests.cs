using Confluent.Kafka;
using DataflowProducer.Cli.Tests.Copy;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Kafka.Tests.RealBroker;
using DataflowProducer.Tests.Shared;

namespace DataflowProducer.Cli.Tests.RealBroker;

/// <summary>The copy's kill test against the real broker (Kafka 0.9: consumer groups with session.timeout.ms at most
/// 30000, no headers, no timestamps, no idempotence).</summary>
[Category(TestCategories.RealBroker)]
public class CopyRealBrokerTests
{
    [Test, CancelAfter(300_000)]
    public async Task Copy_SigkilledThreeTimesAndRestarted_EveryRecordCopiedInOrderPerKeyDuplicatesWithinWhatWasInFlight(CancellationToken ct)
    {
        const int Records = 50_000;
        const int Keys = 100;
        const int Kills = 3;
        int seed = CopyKillScenario.Seed();
        TestContext.Out.WriteLine($"seed {seed}");

        RealKafkaBroker broker = CliRealBrokerSetUp.Broker;
        string id = Guid.NewGuid().ToString("N");
        string from = $"cli-rb-from-{id}";
        string to = $"cli-rb-to-{id}";
        await ProduceRealBrokerTests.CreateTopicAsync(broker, from, ct);
        await ProduceRealBrokerTests.CreateTopicAsync(broker, to, ct);
        var client = new ClientConfig { BootstrapServers = broker.BootstrapServers };
        broker.ApplyClientSettings(client);
        string[] clientArgs = broker.IsEmbedded ? ["-X", "api.version.request=false", "-X", "broker.version.fallback=0.9.0.1"] : [];
        var scenario = new CopyKillScenario(client, clientArgs, from, to);

        await scenario.RunAsync(Records, Keys, Kills, seed, headersAndTimestamps: !broker.IsEmbedded, ct);

        CopyCheck check = KeyedTopic.Check(TopicReader.ReadAll(client, to, Deserializers.ByteArray, Deserializers.ByteArray, TimeSpan.FromSeconds(120))!, Records, Keys);
        CopyKillTests.Report(scenario, check, seed);
        CopyKillTests.AssertCopied(scenario, check, Kills);
    }
}
