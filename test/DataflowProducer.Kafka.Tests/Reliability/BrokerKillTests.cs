using System.Diagnostics;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Kafka.Tests.Reliability;
using DataflowProducer.Kafka.Tests.TestSupport;
using DataflowProducer.Tests.Shared;

// In the RealBroker namespace although it lives in Reliability/: RealBrokerSetUp is a namespace-scoped [SetUpFixture],
// and this test must share its one broker process (a second Kafka + ZooKeeper pair would double the tier's start-up).
namespace DataflowProducer.Kafka.Tests.RealBroker;

/// <summary>SIGKILL the Kafka JVM in the middle of a run and restart it on the same port and data directory. A 0.9
/// broker has no idempotent producer, so records in flight at the kill may be written twice (at-least-once): duplicates
/// are counted and printed; a record that was accepted and neither read back nor reported failed or abandoned is a
/// failure.</summary>
[Category(TestCategories.RealBroker)]
public class BrokerKillTests
{
    private const int Count = 50_000;
    private const int Partitions = 4;
    private const int KillAfterDelivered = 15_000;
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(180);

    [Test, CancelAfter(420_000)]
    public async Task Create_BrokerKilledMidRunAndRestarted_EveryAcceptedRecordReadBackOrReportedDuplicatesCounted(CancellationToken ct)
    {
        RealKafkaBroker broker = RealBrokerSetUp.Broker;
        if (!broker.IsEmbedded)
        {
            Assert.Ignore($"The broker at {broker.BootstrapServers} comes from {RealKafkaBroker.BootstrapServersVariable}; only the embedded one can be killed.");
        }

        string topic = $"kill-{Guid.NewGuid():N}";
        var readerConfig = new ClientConfig { BootstrapServers = broker.BootstrapServers };
        broker.ApplyClientSettings(readerConfig);
        await Task.Run(() => CreateTopic(readerConfig, topic), ct);

        // message.timeout.ms well beyond the outage (kill, ZooKeeper session expiry, JVM start), so records wait
        // for the broker instead of failing; acks=all so "delivered" means the broker wrote it.
        var config = new ProducerConfig { BootstrapServers = broker.BootstrapServers, Acks = Acks.All, LingerMs = 5, MessageTimeoutMs = 180_000 };
        broker.ApplyClientSettings(config);
        var outcomes = new Outcomes<KafkaRecord<string, string>>();
        var block = KafkaProducerBlock.Create(
            config,
            new KafkaSinkOptions<string, string> { DefaultTopic = topic },
            new BatchProducerOptions { BatchSize = 500, Linger = TimeSpan.FromMilliseconds(20), DrainTimeout = TimeSpan.FromMinutes(4) },
            outcomes.Callbacks);

        var records = Enumerable.Range(0, Count).Select(i => new KafkaRecord<string, string>($"k{i % 17}", $"v{i}")).ToArray();
        long accepted = 0;
        Task posting = Task.Run(
            async () =>
            {
                foreach (var record in records)
                {
                    if (!await block.SendAsync(record, ct))
                    {
                        return;
                    }

                    Interlocked.Increment(ref accepted);
                }
            },
            ct);

        var outage = Stopwatch.StartNew();
        await WaitUntilAsync(() => block.GetStatistics().Delivered >= KillAfterDelivered, TimeSpan.FromMinutes(2), ct);
        BatchProducerStatistics atKill = block.GetStatistics();
        await broker.KillBrokerAsync();
        outage.Restart();
        await broker.RestartBrokerAsync(ct);
        TimeSpan outageTime = outage.Elapsed;
        await posting;
        block.Complete();
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));

        var read = await Task.Run(() => TopicReader.ReadAll(readerConfig, topic, Deserializers.Utf8, Deserializers.Utf8, ReadTimeout), ct);
        BatchProducerStatistics s = block.GetStatistics();
        var readIndexes = read.Select(r => ReadBack.IndexOf(r.Message.Value)).ToList();
        var distinct = readIndexes.ToHashSet();
        var handedBack = outcomes.Failed.Select(f => f.Item).Concat(outcomes.Abandoned).Select(r => ReadBack.IndexOf(r.Value)).ToHashSet();
        var lost = Enumerable.Range(0, (int)Interlocked.Read(ref accepted)).Where(i => !distinct.Contains(i) && !handedBack.Contains(i)).ToList();
        TestContext.Out.WriteLine($"killed at {atKill}; broker back after {outageTime.TotalSeconds:F1} s; completion: {completion?.Message ?? "succeeded"}");
        ScenarioReport.Print(TestContext.Out, "Real 0.9 broker SIGKILL + restart", Count, s, read.Count, distinct.Count, note: $"lost (accepted, not read back, not handed back): {lost.Count}");
        Assert.Multiple(() =>
        {
            Assert.That(atKill.Delivered, Is.LessThan(Count), "everything was delivered before the kill: the test proves nothing");
            Assert.That(Interlocked.Read(ref accepted), Is.EqualTo(Count));
            Assert.That(s.Accepted, Is.EqualTo(s.Delivered + s.Failed + s.Abandoned), $"accounting: {s}");
            Assert.That(lost, Is.Empty, "accepted records neither in the topic nor handed back (first ones shown)");
            Assert.That(distinct.Where(i => i < 0 || i >= Count), Is.Empty, "records that were never posted");
            Assert.That(s.Delivered, Is.LessThanOrEqualTo(distinct.Count), "more delivered than distinct records in the topic");
        });
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan atMost, CancellationToken ct)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.That(stopwatch.Elapsed, Is.LessThan(atMost), "the condition did not become true in time");
            await Task.Delay(TimeSpan.FromMilliseconds(10), ct);
        }
    }

    /// <summary>A 0.9 broker auto-creates the topic (num.partitions = 4) when asked for its metadata; wait until every
    /// partition has a leader.</summary>
    private static void CreateTopic(ClientConfig config, string topic)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig(config)).SetLogHandler((_, _) => { }).Build();
        var stopwatch = Stopwatch.StartNew();
        while (true)
        {
            TopicMetadata? metadata = null;
            try
            {
                metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(5)).Topics.SingleOrDefault(t => t.Topic == topic);
            }
            catch (KafkaException)
            {
                // Not there yet.
            }

            if (metadata is { Error.IsError: false } && metadata.Partitions.Count == Partitions && metadata.Partitions.TrueForAll(p => p.Leader >= 0))
            {
                return;
            }

            Assert.That(stopwatch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(60)), $"topic {topic} did not get {Partitions} partitions with leaders");
            Thread.Sleep(200);
        }
    }
}
