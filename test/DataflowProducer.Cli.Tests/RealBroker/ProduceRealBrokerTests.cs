using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Kafka.Tests.RealBroker;
using DataflowProducer.Tests.Shared;

namespace DataflowProducer.Cli.Tests.RealBroker;

[Category(TestCategories.RealBroker)]
public class ProduceRealBrokerTests
{
    [Test, CancelAfter(240_000)]
    public async Task Produce_JsonlWithKeyFieldToTheRealBroker_TopicHoldsExactLinesKeyedAndInOrderPerKey(CancellationToken ct)
    {
        RealKafkaBroker broker = CliRealBrokerSetUp.Broker;
        string topic = $"cli-rb-{Guid.NewGuid():N}";
        await CreateTopicAsync(broker, topic, ct);
        string directory = Directory.CreateTempSubdirectory("dataflow-producer-cli-rb-").FullName;
        try
        {
            string[] lines = [.. Enumerable.Range(0, 2000).Select(i => $"{{\"id\":\"user-{i % 7}\",\"seq\":{i},\"text\":\"caf\u00e9 {i}\"}}")];
            string file = Path.Combine(directory, "in.jsonl");
            await File.WriteAllTextAsync(file, string.Join("\n", lines) + "\n", ct);

            var args = new List<string> { "produce", "--topic", topic, "--bootstrap-servers", broker.BootstrapServers, "--input", file, "--format", "jsonl", "--key-field", "id", "--quiet", "-X", "acks=all" };
            if (broker.IsEmbedded)
            {
                args.AddRange(["-X", "api.version.request=false", "-X", "broker.version.fallback=0.9.0.1"]);
            }

            CliRun run = await CliRun.RunAsync([.. args]);

            var readerConfig = new ClientConfig { BootstrapServers = broker.BootstrapServers };
            broker.ApplyClientSettings(readerConfig);
            var read = TopicReader.ReadAll(readerConfig, topic, Deserializers.ByteArray, Deserializers.ByteArray, TimeSpan.FromSeconds(120));
            Assert.Multiple(() =>
            {
                Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
                Assert.That(run.Summary["accepted"], Is.EqualTo("2000"));
                Assert.That(run.Summary["delivered"], Is.EqualTo("2000"));
                // Hex of the bytes, sorted: the values are the input bytes exactly (and an ordered comparison stays linear).
                Assert.That(read.Select(r => Convert.ToHexString(r.Message.Value)).Order(StringComparer.Ordinal), Is.EqualTo(lines.Select(l => Convert.ToHexString(Encoding.UTF8.GetBytes(l))).Order(StringComparer.Ordinal)), "values are the input bytes exactly");
                foreach (var byKey in read.GroupBy(r => Encoding.UTF8.GetString(r.Message.Key)))
                {
                    var values = byKey.OrderBy(r => r.Offset.Value).Select(r => Encoding.UTF8.GetString(r.Message.Value)).ToList();
                    Assert.That(values, Is.EqualTo(lines.Where(l => l.Contains($"\"{byKey.Key}\"", StringComparison.Ordinal))), $"order of key {byKey.Key}");
                }
            });
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    // A 0.9 broker creates the topic when its metadata is first asked for (auto.create.topics.enable); another
    // cluster gets an explicit CreateTopics. Either way, wait until every partition has a leader.
    internal static async Task CreateTopicAsync(RealKafkaBroker broker, string topic, CancellationToken ct)
    {
        var config = new AdminClientConfig { BootstrapServers = broker.BootstrapServers };
        broker.ApplyClientSettings(config);
        using var admin = new AdminClientBuilder(config).SetLogHandler((_, _) => { }).Build();
        if (!broker.IsEmbedded)
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = 4, ReplicationFactor = 1 }]).WaitAsync(ct);
        }

        var stopwatch = Stopwatch.StartNew();
        await WaitForLeadersAsync(admin, topic, stopwatch, ct);
    }

    private static async Task WaitForLeadersAsync(IAdminClient admin, string topic, Stopwatch stopwatch, CancellationToken ct)
    {
        while (true)
        {
            try
            {
                TopicMetadata? metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(5)).Topics.SingleOrDefault(t => t.Topic == topic);
                if (metadata is { Error.IsError: false } && metadata.Partitions.Count > 0 && metadata.Partitions.TrueForAll(p => p.Leader >= 0))
                {
                    return;
                }
            }
            catch (KafkaException)
            {
                // Not there yet.
            }

            Assert.That(stopwatch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(60)), $"topic {topic} did not get leaders");
            await Task.Delay(200, ct);
        }
    }
}
