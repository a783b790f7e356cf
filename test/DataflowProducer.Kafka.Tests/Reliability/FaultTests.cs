using System.Diagnostics;
using System.Globalization;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Kafka.Tests.TestSupport;
using DataflowProducer.Tests.Shared;

namespace DataflowProducer.Kafka.Tests.Reliability;

/// <summary>Broker faults injected into the mock cluster, each checked by reading the topic back: request errors the
/// idempotent producer must retry without loss or duplicates, round trips slower than the drain timeout (abandoned
/// records handed back with exact counts), and a broker that never comes back.</summary>
[Category(TestCategories.Integration)]
public class FaultTests() : MockClusterFixture("fault", replicationFactor: 3)
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(60);


    private static KafkaRecord<string, string> Keyed(int i) => new($"k{i % 17}", $"v{i}");

    private BatchProducerBlock<KafkaRecord<string, string>> CreateBlock(Outcomes<KafkaRecord<string, string>> outcomes, ProducerConfig? config = null, BatchProducerOptions? options = null) =>
        KafkaProducerBlock.Create(
            config ?? new ProducerConfig { BootstrapServers = Cluster.BootstrapServers, LingerMs = 5 },
            new KafkaSinkOptions<string, string> { DefaultTopic = Topic },
            options ?? new BatchProducerOptions { BatchSize = 500, Linger = TimeSpan.FromMilliseconds(10) },
            outcomes.Callbacks);

    private IReadOnlyList<ConsumeResult<string, string>> ReadAll() =>
        TopicReader.ReadAll(Cluster.BootstrapServers, Topic, Deserializers.Utf8, Deserializers.Utf8, ReadTimeout);

    private static async Task SendAllAsync(BatchProducerBlock<KafkaRecord<string, string>> block, IEnumerable<KafkaRecord<string, string>> records, CancellationToken ct)
    {
        foreach (var record in records)
        {
            Assert.That(await block.SendAsync(record, ct), Is.True);
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan atMost, string what, CancellationToken ct)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.That(stopwatch.Elapsed, Is.LessThan(atMost), $"{what} did not happen within {atMost}");
            await Task.Delay(TimeSpan.FromMilliseconds(20), ct);
        }
    }

    [TestCase(ErrorCode.NotLeaderForPartition)]
    [TestCase(ErrorCode.RequestTimedOut)]
    [TestCase(ErrorCode.NotEnoughReplicas)]
    [TestCase(ErrorCode.NotEnoughReplicasAfterAppend)]
    [TestCase(ErrorCode.LeaderNotAvailable)]
    [CancelAfter(120_000)]
    public async Task Create_ProduceRequestsFailWithRetriableError_NoLossNoDuplicatesOrderKept(ErrorCode error, CancellationToken ct)
    {
        const int Count = 10_000;
        var outcomes = new Outcomes<KafkaRecord<string, string>>();
        var block = CreateBlock(outcomes);

        // Errors for the first produce requests, and again mid-stream, so some of them hit batches that follow others
        // still in flight (where a retry without idempotence would reorder or duplicate).
        Cluster.PushRequestErrors(KafkaApiKey.Produce, Enumerable.Repeat(error, 5).ToArray());
        await SendAllAsync(block, Enumerable.Range(0, Count / 2).Select(Keyed), ct);
        Cluster.PushRequestErrors(KafkaApiKey.Produce, Enumerable.Repeat(error, 5).ToArray());
        await SendAllAsync(block, Enumerable.Range(Count / 2, Count / 2).Select(Keyed), ct);
        block.Complete();
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));

        var read = ReadAll();
        ScenarioReport.Print(TestContext.Out, $"Produce errors {error}", Count, block.GetStatistics(), read.Count, read.Select(r => r.Message.Value).Distinct().Count());
        Assert.Multiple(() =>
        {
            Assert.That(completion, Is.Null, "Completion should succeed");
            Assert.That(outcomes.Failed, Is.Empty);
            Assert.That(outcomes.Abandoned, Is.Empty);
            Assert.That(block.GetStatistics().Delivered, Is.EqualTo(Count));
        });
        ReadBack.AssertExactlyOnceInPostOrder(read, Count);
    }

    [Test, CancelAfter(120_000)]
    public async Task Create_MixedRetriableProduceErrorsWhileABrokerFlaps_NoLossEverythingDelivered(CancellationToken ct)
    {
        const int Count = 20_000;
        var outcomes = new Outcomes<KafkaRecord<string, string>>();
        var block = CreateBlock(outcomes);
        ErrorCode[] mixed = [ErrorCode.NotLeaderForPartition, ErrorCode.RequestTimedOut, ErrorCode.NotEnoughReplicas, ErrorCode.LeaderNotAvailable];

        for (int part = 0; part < 4; part++)
        {
            Cluster.PushRequestErrors(KafkaApiKey.Produce, mixed);
            await SendAllAsync(block, Enumerable.Range(part * Count / 4, Count / 4).Select(Keyed), ct);
            if (part == 1)
            {
                Cluster.SetBrokerDown(2);
            }
            else if (part == 2)
            {
                Cluster.SetBrokerUp(2);
            }
        }

        block.Complete();
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));

        var read = ReadAll();
        ScenarioReport.Print(TestContext.Out, "Mixed produce errors + broker flap", Count, block.GetStatistics(), read.Count, read.Select(r => r.Message.Value).Distinct().Count());
        Assert.Multiple(() =>
        {
            Assert.That(completion, Is.Null, "Completion should succeed");
            Assert.That(outcomes.Failed, Is.Empty);
            Assert.That(outcomes.Abandoned, Is.Empty);
        });

        // A broker going down closes its connections with produce requests in flight. librdkafka's mock cluster then
        // sometimes stores a retried batch twice even for an idempotent producer (a raw Confluent producer shows the
        // same, about 1 run in 12 with pushed transport errors), so this scenario checks at-least-once: nothing lost,
        // duplicates reported.
        int duplicates = ReadBack.AssertAtLeastOnce(read, Count);
        await TestContext.Out.WriteLineAsync($"duplicates after the broker flap: {duplicates}");
    }

    [Test, CancelAfter(120_000)]
    public async Task Create_ProduceConnectionsDroppedMidRequest_NoLossEverythingDelivered(CancellationToken ct)
    {
        const int Count = 10_000;
        var outcomes = new Outcomes<KafkaRecord<string, string>>();
        var block = CreateBlock(outcomes);

        // Local_Transport makes the mock broker drop the connection instead of answering: the client cannot know
        // whether the request was stored, retries it, and the mock may keep both copies (see the flap test).
        Cluster.PushRequestErrors(KafkaApiKey.Produce, Enumerable.Repeat(ErrorCode.Local_Transport, 5).ToArray());
        await SendAllAsync(block, Enumerable.Range(0, Count / 2).Select(Keyed), ct);
        Cluster.PushRequestErrors(KafkaApiKey.Produce, Enumerable.Repeat(ErrorCode.Local_Transport, 5).ToArray());
        await SendAllAsync(block, Enumerable.Range(Count / 2, Count / 2).Select(Keyed), ct);
        block.Complete();
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));

        var read = ReadAll();
        ScenarioReport.Print(TestContext.Out, "Produce connections dropped", Count, block.GetStatistics(), read.Count, read.Select(r => r.Message.Value).Distinct().Count());
        Assert.Multiple(() =>
        {
            Assert.That(completion, Is.Null, "Completion should succeed");
            Assert.That(outcomes.Failed, Is.Empty);
            Assert.That(outcomes.Abandoned, Is.Empty);
            Assert.That(block.GetStatistics().Delivered, Is.EqualTo(Count));
        });
        int duplicates = ReadBack.AssertAtLeastOnce(read, Count);
        await TestContext.Out.WriteLineAsync($"duplicates after dropped connections: {duplicates}");
    }

    [Test, CancelAfter(120_000)]
    public async Task Create_RoundTripOf3SecondsWithDrainTimeoutOf500Ms_UnacknowledgedRecordsHandedBackWithExactCounts(CancellationToken ct)
    {
        const int Before = 1000;
        const int After = 1000;
        var outcomes = new Outcomes<KafkaRecord<string, string>>();
        var block = CreateBlock(outcomes, options: new BatchProducerOptions { BatchSize = 500, Linger = TimeSpan.FromMilliseconds(10), DrainTimeout = TimeSpan.FromMilliseconds(500) });
        var before = Enumerable.Range(0, Before).Select(Keyed).ToList();
        var after = Enumerable.Range(Before, After).Select(Keyed).ToList();

        await SendAllAsync(block, before, ct);
        await WaitUntilAsync(() => block.GetStatistics().Delivered == Before, TimeSpan.FromSeconds(30), "delivery of the first records", ct);
        foreach (int broker in Cluster.BrokerIds)
        {
            Cluster.SetBrokerRoundTripTime(broker, TimeSpan.FromSeconds(3));
        }

        await SendAllAsync(block, after, ct);
        block.Complete();
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));
        foreach (int broker in Cluster.BrokerIds)
        {
            Cluster.SetBrokerRoundTripTime(broker, TimeSpan.Zero);
        }

        BatchProducerStatistics s = block.GetStatistics();
        var abandoned = outcomes.Abandoned;
        var read = ReadAll();
        var written = read.Select(r => r.Message.Value).ToHashSet();
        int abandonedButWritten = abandoned.Count(r => written.Contains(r.Value));
        ScenarioReport.Print(TestContext.Out, "RTT 3 s, drain timeout 500 ms", Before + After, s, read.Count, written.Count, note: $"{abandonedButWritten} abandoned records were written anyway (their outcome was unknown, not negative)");
        Assert.Multiple(() =>
        {
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(Before + After, s.Batches, Before, 0, After, 0) { Unknown = After }), "every late record was handed to the client: unknown, not 'not sent'");
            Assert.That(abandoned, Is.EquivalentTo(after).Using((System.Collections.IEqualityComparer)ReferenceEqualityComparer.Instance), "abandoned = exactly the records posted after the round trip rose");
            Assert.That(outcomes.Failed, Is.Empty);
            Assert.That(completion, Is.TypeOf<BatchProducerException<KafkaRecord<string, string>>>()
                .With.Message.Contains($"{Before + After} accepted, {Before} delivered, 0 failed, {After} abandoned")
                .And.Message.Contains("drain did not finish within the drain timeout"));
            Assert.That(((BatchProducerException<KafkaRecord<string, string>>)completion!).AbandonedItems, Has.Count.EqualTo(After));
            Assert.That(before.Where(r => !written.Contains(r.Value)), Is.Empty, "a record reported delivered is missing from the topic");
            Assert.That(read.Count, Is.EqualTo(written.Count), "duplicates in the topic");
        });
    }

    [Test, CancelAfter(120_000)]
    public async Task Create_OneBrokerDownForGood_ItsPartitionsFailByMessageTimeoutRestDeliveredAccountingExact(CancellationToken ct)
    {
        const int Count = 4000;
        using var topicOnOneReplica = new TopicOnOneReplica(Cluster);
        int downBroker = topicOnOneReplica.LeaderOf(0);
        var deadPartitions = topicOnOneReplica.PartitionsLedBy(downBroker);
        var outcomes = new Outcomes<KafkaRecord<string, string>>();
        var block = KafkaProducerBlock.Create(
            new ProducerConfig { BootstrapServers = Cluster.BootstrapServers, LingerMs = 5, MessageTimeoutMs = 3000 },
            new KafkaSinkOptions<string, string> { DefaultTopic = topicOnOneReplica.Topic },
            new BatchProducerOptions { BatchSize = 500, Linger = TimeSpan.FromMilliseconds(10) },
            outcomes.Callbacks);
        var records = Enumerable.Range(0, Count).Select(i => new KafkaRecord<string, string>($"k{i}", $"v{i}") { Partition = new Partition(i % 4) }).ToList();
        var doomed = records.Where(r => deadPartitions.Contains(r.Partition!.Value.Value)).ToList();

        Cluster.SetBrokerDown(downBroker);
        await SendAllAsync(block, records, ct);
        block.Complete();
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));

        // Back up only to count what was written: the producer is gone, so nothing more can arrive.
        Cluster.SetBrokerUp(downBroker);
        BatchProducerStatistics s = block.GetStatistics();
        var failed = outcomes.Failed;
        long written = TopicReader.SumHighWatermarks(Cluster.BootstrapServers, topicOnOneReplica.Topic, ReadTimeout);
        ScenarioReport.Print(TestContext.Out, $"Broker {downBroker} down for good", Count, s, written, written, note: $"partitions {string.Join(",", deadPartitions)} lost their only replica");
        Assert.Multiple(() =>
        {
            Assert.That(doomed, Is.Not.Empty, "the down broker leads no partition: the test proves nothing");
            Assert.That(failed.Select(f => f.Item), Is.EquivalentTo(doomed).Using((System.Collections.IEqualityComparer)ReferenceEqualityComparer.Instance));
            Assert.That(failed.Select(f => (f.Error as KafkaException)?.Error.Code).Distinct(), Is.EqualTo(new ErrorCode?[] { ErrorCode.Local_MsgTimedOut }));
            Assert.That(failed.Select(f => f.Error.Message).First(), Does.Contain("timed out").IgnoreCase);
            Assert.That(outcomes.Abandoned, Is.Empty);
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(Count, s.Batches, Count - doomed.Count, doomed.Count, 0, 0)));
            Assert.That(written, Is.EqualTo(Count - doomed.Count), "records written (sum of high watermarks)");
            Assert.That(completion, Is.InstanceOf<BatchProducerException>().With.Message.Contains(string.Create(CultureInfo.InvariantCulture, $"{Count} accepted, {Count - doomed.Count} delivered, {doomed.Count} failed, 0 abandoned")));
        });
    }

    /// <summary>A second topic with one replica per partition, so a broker that goes down takes its partitions with it
    /// (the mock cluster does not move leadership).</summary>
    private sealed class TopicOnOneReplica : IDisposable
    {
        private readonly IAdminClient _admin;
        private readonly List<PartitionMetadata> _partitions;

        public TopicOnOneReplica(MockKafkaCluster cluster)
        {
            Topic = $"fault-r1-{Guid.NewGuid():N}";
            cluster.CreateTopic(Topic, partitions: 4, replicationFactor: 1);
            _admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = cluster.BootstrapServers }).Build();
            _partitions = _admin.GetMetadata(Topic, TimeSpan.FromSeconds(10)).Topics.Single().Partitions;
        }

        public string Topic { get; }

        public int LeaderOf(int partition) => _partitions.Single(p => p.PartitionId == partition).Leader;

        public HashSet<int> PartitionsLedBy(int broker) => _partitions.Where(p => p.Leader == broker).Select(p => p.PartitionId).ToHashSet();

        public void Dispose() => _admin.Dispose();
    }
}
