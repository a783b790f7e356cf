using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Kafka.Tests.TestSupport;
using DataflowProducer.Tests.Shared;

namespace DataflowProducer.Kafka.Tests.Integration;

/// <summary>Outcomes of a Kafka producer block against the mock cluster: receipts that match what a consumer reads,
/// and an abort that tells not sent from unknown and reports what the settle time let arrive.</summary>
[Category(TestCategories.Integration)]
public class OutcomesMockClusterTests() : MockClusterFixture("outcomes")
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(60);

    private static KafkaRecord<string, string> Keyed(int i) => new($"k{i % 17}", $"v{i}");

    private BatchProducerBlock<KafkaRecord<string, string>> CreateBlock(BatchProducerOptions options, ProducerConfig? config = null) =>
        KafkaProducerBlock.Create(
            config ?? new ProducerConfig { BootstrapServers = Cluster.BootstrapServers, LingerMs = 5 },
            new KafkaSinkOptions<string, string> { DefaultTopic = Topic },
            options);

    private static (ActionBlock<BatchOutcome<KafkaRecord<string, string>>> Reader, ConcurrentQueue<ItemOutcome<KafkaRecord<string, string>>> Items) Collect(BatchProducerBlock<KafkaRecord<string, string>> block)
    {
        var items = new ConcurrentQueue<ItemOutcome<KafkaRecord<string, string>>>();
        var reader = new ActionBlock<BatchOutcome<KafkaRecord<string, string>>>(batch =>
        {
            foreach (ItemOutcome<KafkaRecord<string, string>> item in batch)
            {
                items.Enqueue(item);
            }
        });
        block.Outcomes.LinkTo(reader, new DataflowLinkOptions { PropagateCompletion = true });
        return (reader, items);
    }

    private IReadOnlyList<ConsumeResult<string, string>> ReadAll() =>
        TopicReader.ReadAll(Cluster.BootstrapServers, Topic, Deserializers.Utf8, Deserializers.Utf8, ReadTimeout);

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan atMost, string what, CancellationToken ct)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.That(stopwatch.Elapsed, Is.LessThan(atMost), $"{what} did not happen within {atMost}");
            await Task.Delay(TimeSpan.FromMilliseconds(20), ct);
        }
    }

    [Test, CancelAfter(120_000)]
    public async Task Create_EmitOutcomes_EveryDeliveredOutcomeCarriesTheTopicPartitionAndOffsetAConsumerReads(CancellationToken ct)
    {
        const int Count = 3000;
        var block = CreateBlock(new BatchProducerOptions { BatchSize = 200, Linger = TimeSpan.FromMilliseconds(10), EmitOutcomes = true });
        var (reader, items) = Collect(block);

        foreach (var record in Enumerable.Range(0, Count).Select(Keyed))
        {
            Assert.That(await block.SendAsync(record, ct), Is.True);
        }

        block.Complete();
        await block.Completion.WaitAsync(ct);
        await reader.Completion.WaitAsync(ct);

        var read = ReadAll().ToDictionary(r => r.Message.Value);
        var mismatches = items
            .Where(o => o.Status != OutcomeStatus.Delivered
                || o.Receipt is not { } receipt
                || !read.TryGetValue(o.Item.Value, out var r)
                || receipt with { Timestamp = null } != new DeliveryReceipt(r.Topic, r.Partition.Value, r.Offset.Value, null))
            .Take(5)
            .Select(o => $"{o.Item.Value}: {o.Status} {o.Receipt} read {(read.TryGetValue(o.Item.Value, out var r) ? r.TopicPartitionOffset.ToString() : "nothing")}")
            .ToList();
        Assert.Multiple(() =>
        {
            Assert.That(items, Has.Count.EqualTo(Count));
            Assert.That(read, Has.Count.EqualTo(Count));
            Assert.That(mismatches, Is.Empty, "outcomes whose receipt differs from the record read back (first 5)");

            // The timestamp is the delivery report's. The mock cluster answers every produce with a fixed LogAppendTime
            // (1234 ms after the epoch, whatever the topic's timestamp type), which librdkafka then reports instead of
            // the CreateTime a consumer reads, so here only its presence is checked; the real-broker tier compares it.
            Assert.That(items.Select(o => o.Receipt!.Value.Timestamp), Has.All.Not.Null);
        });
    }

    [Test, CancelAfter(120_000)]
    public async Task Create_AbortedWhileTheClientQueueIsFullAndBrokersDown_HandedOverUnknownRestNotSentCountsAddUp(CancellationToken ct)
    {
        // The client holds at most 100 messages; with every broker down none leaves it, so the sink waits for room.
        const int QueueLimit = 100;
        const int Count = 1000;
        Cluster.SetAllBrokersDown();
        var block = CreateBlock(
            new BatchProducerOptions { BatchSize = 50, Linger = TimeSpan.FromMilliseconds(5), EmitOutcomes = true, SettleTime = TimeSpan.FromSeconds(1) },
            new ProducerConfig { BootstrapServers = Cluster.BootstrapServers, LingerMs = 5, QueueBufferingMaxMessages = QueueLimit });
        var (reader, items) = Collect(block);

        int accepted = 0;
        while (accepted < Count && block.Post(Keyed(accepted)))
        {
            accepted++;
        }

        await WaitUntilAsync(() => block.GetStatistics().InFlight > QueueLimit, TimeSpan.FromSeconds(30), "a batch waiting for room in the full client queue", ct);
        ((IDataflowBlock)block).Fault(new InvalidOperationException("stopped by the test"));
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));
        await reader.Completion.WaitAsync(ct);
        BatchProducerStatistics s = block.GetStatistics();

        // The producer is disposed: nothing more can be sent. With the brokers back, whatever did leave can be read.
        Cluster.SetAllBrokersUp();
        var written = ReadAll().Select(r => r.Message.Value).ToHashSet();
        var notSent = items.Where(o => o.Status == OutcomeStatus.NotSent).Select(o => o.Item.Value).ToList();
        var unknown = items.Where(o => o.Status == OutcomeStatus.Unknown).ToList();
        await TestContext.Out.WriteLineAsync($"accepted {accepted}: {s}; written after all {written.Count}");
        Assert.Multiple(() =>
        {
            Assert.That(completion, Is.InstanceOf<BatchProducerException>());
            Assert.That(items, Has.Count.EqualTo(accepted), "one outcome per accepted record");
            Assert.That(unknown, Has.Count.EqualTo(QueueLimit), "exactly what the client's queue held was handed over");
            Assert.That(notSent, Has.Count.EqualTo(accepted - QueueLimit));
            Assert.That(s.Delivered + s.Failed + s.NotSent + s.Unknown, Is.EqualTo(s.Accepted));
            Assert.That((s.NotSent, s.Unknown, s.Delivered), Is.EqualTo(((long)notSent.Count, (long)unknown.Count, 0L)));
            Assert.That(notSent.Where(written.Contains), Is.Empty, "a record reported not sent is in the topic");
        });
    }

    [Test, CancelAfter(120_000)]
    public async Task Create_AbortedWhileRecordsAreInFlight_SettleTimeReportsTheDeliveredOnesDelivered(CancellationToken ct)
    {
        // The user story: 25 records, 20 of them in the topic, all 25 reported abandoned and Delivered 0. Acks are slow
        // (300 ms round trips), the abort comes while they are in flight, and the settle time lets their reports in.
        const int Count = 25;
        foreach (int broker in Cluster.BrokerIds)
        {
            Cluster.SetBrokerRoundTripTime(broker, TimeSpan.FromMilliseconds(300));
        }

        var block = CreateBlock(new BatchProducerOptions { BatchSize = 5, Linger = TimeSpan.FromMilliseconds(5), EmitOutcomes = true, SettleTime = TimeSpan.FromSeconds(20) });
        var (reader, items) = Collect(block);
        for (int i = 0; i < Count; i++)
        {
            Assert.That(block.Post(Keyed(i)), Is.True);
        }

        await WaitUntilAsync(() => block.GetStatistics().InFlight == Count, TimeSpan.FromSeconds(30), "every record handed to the client", ct);
        Assert.That(block.GetStatistics().Delivered, Is.LessThan(Count), "the abort should come while records are in flight");
        ((IDataflowBlock)block).Fault(new InvalidOperationException("Ctrl+C"));
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));
        await reader.Completion.WaitAsync(ct);
        foreach (int broker in Cluster.BrokerIds)
        {
            Cluster.SetBrokerRoundTripTime(broker, TimeSpan.Zero);
        }

        BatchProducerStatistics s = block.GetStatistics();
        var written = ReadAll().Select(r => r.Message.Value).ToHashSet();
        var delivered = items.Where(o => o.Status == OutcomeStatus.Delivered).Select(o => o.Item.Value).ToHashSet();
        await TestContext.Out.WriteLineAsync($"in the topic {written.Count} of {Count}; {s}");
        Assert.Multiple(() =>
        {
            Assert.That(written, Has.Count.EqualTo(Count), "every record was in flight and the settle time is long enough for all");
            Assert.That(delivered, Is.EquivalentTo(written), "reported delivered = in the topic");
            Assert.That(s.Delivered, Is.EqualTo(Count));
            Assert.That(s.Abandoned, Is.Zero);
            Assert.That(completion, Is.Null.Or.InstanceOf<OperationCanceledException>().Or.InstanceOf<BatchProducerException>(), "aborted, but nothing lost to the counts");
        });
    }
}
