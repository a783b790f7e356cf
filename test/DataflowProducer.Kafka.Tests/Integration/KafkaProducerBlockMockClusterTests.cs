using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Kafka.Tests.TestSupport;
using DataflowProducer.Tests.Shared;
using Microsoft.Extensions.Logging.Testing;

namespace DataflowProducer.Kafka.Tests.Integration;

/// <summary>End to end over TCP against librdkafka's mock cluster: a fresh 3-broker cluster and a GUID-named
/// 4-partition topic per test, everything read back.</summary>
[Category(TestCategories.Integration)]
public class KafkaProducerBlockMockClusterTests() : MockClusterFixture("it")
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(60);


    private ProducerConfig Config() => new() { BootstrapServers = Cluster.BootstrapServers, LingerMs = 5 };

    private BatchProducerBlock<KafkaRecord<string, string>> CreateBlock(
        ProducerConfig? config = null,
        BatchProducerOptions? options = null,
        Outcomes<KafkaRecord<string, string>>? outcomes = null,
        KafkaSinkOptions<string, string>? sinkOptions = null,
        FakeLoggerFactory? loggerFactory = null)
    {
        sinkOptions ??= new KafkaSinkOptions<string, string>();
        sinkOptions.DefaultTopic = Topic;
        return KafkaProducerBlock.Create(
            config ?? Config(),
            sinkOptions,
            options ?? new BatchProducerOptions { BatchSize = 500, Linger = TimeSpan.FromMilliseconds(20) },
            outcomes?.Callbacks,
            loggerFactory);
    }

    private static KafkaRecord<string, string> Keyed(int i) => new($"k{i % 17}", $"v{i}");

    private static async Task SendAllAsync(BatchProducerBlock<KafkaRecord<string, string>> block, IEnumerable<KafkaRecord<string, string>> records, CancellationToken ct)
    {
        foreach (var record in records)
        {
            Assert.That(await block.SendAsync(record, ct), Is.True);
        }
    }

    private IReadOnlyList<ConsumeResult<string, string>> ReadAll() =>
        TopicReader.ReadAll(Cluster.BootstrapServers, Topic, Deserializers.Utf8, Deserializers.Utf8, ReadTimeout);

    [Test, CancelAfter(120_000)]
    public async Task Create_5000KeyedRecords_EachReadBackOnceInPostOrderPerPartition(CancellationToken ct)
    {
        var block = CreateBlock();

        await SendAllAsync(block, Enumerable.Range(0, 5000).Select(Keyed), ct);
        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(5000, block.GetStatistics().Batches, 5000, 0, 0, 0)));
        ReadBack.AssertExactlyOnceInPostOrder(ReadAll(), 5000);
    }

    [Test, CancelAfter(120_000)]
    public async Task Create_RecordsWithHeadersAndCreateTimeTimestamps_BothSurvive(CancellationToken ct)
    {
        const int Count = 1000;
        long baseMs = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds() - 3_600_000;
        var block = CreateBlock();

        await SendAllAsync(
            block,
            Enumerable.Range(0, Count).Select(i =>
            {
                var record = Keyed(i);
                record.Headers = new Headers { { "seq", Encoding.UTF8.GetBytes(i.ToString(CultureInfo.InvariantCulture)) }, { "origin", "test"u8.ToArray() } };
                record.Timestamp = new Timestamp(baseMs + i, TimestampType.CreateTime);
                return record;
            }),
            ct);
        block.Complete();
        await block.Completion.WaitAsync(ct);

        var read = ReadAll();
        var wrong = read
            .Where(r =>
            {
                int i = ReadBack.IndexOf(r.Message.Value);
                return r.Message.Headers is not { Count: 2 } headers
                    || Encoding.UTF8.GetString(headers.GetLastBytes("seq")) != i.ToString(CultureInfo.InvariantCulture)
                    || Encoding.UTF8.GetString(headers.GetLastBytes("origin")) != "test"
                    || r.Message.Timestamp.Type != TimestampType.CreateTime
                    || r.Message.Timestamp.UnixTimestampMs != baseMs + i;
            })
            .Select(r => r.Message.Value)
            .Take(10)
            .ToList();
        Assert.Multiple(() =>
        {
            Assert.That(read, Has.Count.EqualTo(Count));
            Assert.That(wrong, Is.Empty, "messages whose headers or timestamp did not survive (first 10)");
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Create_HugeBatchAndLingerThenComplete_Final25RecordsReadBack(CancellationToken ct)
    {
        // The seed regression: the last partial batch must go out on Complete, not wait for size or linger.
        var block = CreateBlock(options: new BatchProducerOptions { BatchSize = 1_000_000, BoundedCapacity = 1_000_000, Linger = TimeSpan.FromHours(1) });

        await SendAllAsync(block, Enumerable.Range(0, 25).Select(Keyed), ct);
        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.That(block.GetStatistics().Delivered, Is.EqualTo(25));
        ReadBack.AssertExactlyOnceInPostOrder(ReadAll(), 25);
    }

    [Test, CancelAfter(180_000)]
    public async Task Create_AllBrokersDownFor2SecondsMidStream_NothingLostNoDuplicatesOrderKept(CancellationToken ct)
    {
        const int Count = 20_000;
        var outcomes = new Outcomes<KafkaRecord<string, string>>();
        var block = CreateBlock(outcomes: outcomes);

        await SendAllAsync(block, Enumerable.Range(0, Count / 2).Select(Keyed), ct);
        Cluster.SetAllBrokersDown();
        await SendAllAsync(block, Enumerable.Range(Count / 2, Count / 2).Select(Keyed), ct);
        await Task.Delay(TimeSpan.FromSeconds(2), ct);
        Cluster.SetAllBrokersUp();
        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(outcomes.Failed, Is.Empty);
            Assert.That(outcomes.Abandoned, Is.Empty);
            Assert.That(block.GetStatistics().Delivered, Is.EqualTo(Count));
        });
        ReadBack.AssertExactlyOnceInPostOrder(ReadAll(), Count);
    }

    [Test, CancelAfter(120_000)]
    public async Task Create_BrokersDownLongerThanMessageTimeout_ExactlyTheAffectedRecordsFailAndAccountingIsExact(CancellationToken ct)
    {
        var outcomes = new Outcomes<KafkaRecord<string, string>>();
        var block = CreateBlock(new ProducerConfig { BootstrapServers = Cluster.BootstrapServers, LingerMs = 5, MessageTimeoutMs = 3000 }, outcomes: outcomes);
        var before = Enumerable.Range(0, 100).Select(Keyed).ToList();
        var affected = Enumerable.Range(100, 200).Select(Keyed).ToList();

        await SendAllAsync(block, before, ct);
        await WaitUntilAsync(() => block.GetStatistics().Delivered == before.Count, TimeSpan.FromSeconds(30), ct);
        Cluster.SetAllBrokersDown();
        await SendAllAsync(block, affected, ct);
        block.Complete();
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));
        Cluster.SetAllBrokersUp();

        BatchProducerStatistics s = block.GetStatistics();
        var failed = outcomes.Failed;
        Assert.Multiple(() =>
        {
            Assert.That(failed.Select(f => f.Item), Is.EquivalentTo(affected).Using((System.Collections.IEqualityComparer)ReferenceEqualityComparer.Instance));
            Assert.That(failed.Select(f => (f.Error as KafkaException)?.Error.Code).Distinct(), Is.EqualTo(new ErrorCode?[] { ErrorCode.Local_MsgTimedOut }));
            Assert.That(outcomes.Abandoned, Is.Empty);
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(300, s.Batches, 100, 200, 0, 0)));
            Assert.That(s.Accepted, Is.EqualTo(s.Delivered + s.Failed + s.Abandoned));
            Assert.That(completion, Is.InstanceOf<BatchProducerException>().With.Message.Contains("300 accepted, 100 delivered, 200 failed, 0 abandoned"));
        });
        ReadBack.AssertExactlyOnceInPostOrder(ReadAll(), before.Count);
    }

    [Test, CancelAfter(120_000)]
    public async Task Create_AsyncValueSerializer_RoundTripsWithHeadersAndTimestamps(CancellationToken ct)
    {
        const int Count = 1000;
        long baseMs = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds() - 60_000;
        var block = CreateBlock(sinkOptions: new KafkaSinkOptions<string, string> { AsyncValueSerializer = new PrefixingAsyncSerializer() });

        await SendAllAsync(
            block,
            Enumerable.Range(0, Count).Select(i =>
            {
                var record = Keyed(i);
                record.Headers = new Headers { { "seq", Encoding.UTF8.GetBytes(i.ToString(CultureInfo.InvariantCulture)) } };
                record.Timestamp = new Timestamp(baseMs + i, TimestampType.CreateTime);
                return record;
            }),
            ct);
        block.Complete();
        await block.Completion.WaitAsync(ct);

        var read = ReadAll();
        Assert.Multiple(() =>
        {
            Assert.That(read.Select(r => r.Message.Value), Is.EquivalentTo(Enumerable.Range(0, Count).Select(i => $"{PrefixingAsyncSerializer.Prefix}v{i}")));
            Assert.That(read.Select(r => r.Message.Key).Distinct(), Is.EquivalentTo(Enumerable.Range(0, 17).Select(k => $"k{k}")));
            Assert.That(read.Where(r => r.Message.Timestamp.UnixTimestampMs != baseMs + ReadBack.IndexOf(r.Message.Value[PrefixingAsyncSerializer.Prefix.Length..])), Is.Empty);
            Assert.That(read.Where(r => Encoding.UTF8.GetString(r.Message.Headers.GetLastBytes("seq")) != r.Message.Value[(PrefixingAsyncSerializer.Prefix.Length + 1)..]), Is.Empty);
        });
    }

    [Test, CancelAfter(120_000)]
    public async Task Create_AsyncValueSerializerThrowsForOne_OnlyThatRecordFailsRestDelivered(CancellationToken ct)
    {
        var outcomes = new Outcomes<KafkaRecord<string, string>>();
        var block = CreateBlock(outcomes: outcomes, sinkOptions: new KafkaSinkOptions<string, string> { AsyncValueSerializer = new PrefixingAsyncSerializer(failOn: "v13") });
        var records = Enumerable.Range(0, 100).Select(Keyed).ToList();

        await SendAllAsync(block, records, ct);
        block.Complete();
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));

        Assert.That(outcomes.Failed, Has.Count.EqualTo(1));
        Assert.Multiple(() =>
        {
            Assert.That(outcomes.Failed[0].Item, Is.SameAs(records[13]));
            Assert.That(outcomes.Failed[0].Error, Is.InstanceOf<KafkaException>().With.Message.Contains("cannot serialize v13"));
            Assert.That(block.GetStatistics().Delivered, Is.EqualTo(99));
            Assert.That(completion, Is.InstanceOf<BatchProducerException>().With.Message.Contains("1 failed"));
            Assert.That(ReadAll().Select(r => r.Message.Value), Is.EquivalentTo(records.Where((_, i) => i != 13).Select(r => PrefixingAsyncSerializer.Prefix + r.Value)));
        });
    }

    [Test, CancelAfter(120_000)]
    public async Task Create_ValueOverMessageMaxBytes_FailsAloneRestDelivered(CancellationToken ct)
    {
        var outcomes = new Outcomes<KafkaRecord<string, string>>();
        var block = CreateBlock(outcomes: outcomes);
        var records = Enumerable.Range(0, 50).Select(Keyed).ToList();
        var oversized = new KafkaRecord<string, string>("k-big", "v50" + new string('x', 1_100_000));
        records.Insert(25, oversized);

        await SendAllAsync(block, records, ct);
        block.Complete();
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));

        Assert.That(outcomes.Failed, Has.Count.EqualTo(1));
        Assert.Multiple(() =>
        {
            Assert.That(outcomes.Failed[0].Item, Is.SameAs(oversized));
            Assert.That((outcomes.Failed[0].Error as KafkaException)?.Error.Code, Is.EqualTo(ErrorCode.MsgSizeTooLarge));
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(51, block.GetStatistics().Batches, 50, 1, 0, 0)));
            Assert.That(completion, Is.InstanceOf<BatchProducerException>());
        });
        ReadBack.AssertExactlyOnceInPostOrder(ReadAll(), 50);
    }

    [Test, CancelAfter(180_000)]
    public async Task Create_ClientQueueOf100WithBatchesOf1000_WaitsOnQueueFullAndDeliversAll(CancellationToken ct)
    {
        const int Count = 20_000;
        var outcomes = new Outcomes<KafkaRecord<string, string>>();
        var logs = new FakeLoggerFactory(new FakeLogCollector());
        var block = CreateBlock(
            new ProducerConfig { BootstrapServers = Cluster.BootstrapServers, LingerMs = 5, QueueBufferingMaxMessages = 100 },
            new BatchProducerOptions { BatchSize = 1000, Linger = TimeSpan.FromMilliseconds(20) },
            outcomes,
            loggerFactory: logs);

        await SendAllAsync(block, Enumerable.Range(0, Count).Select(Keyed), ct);
        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(logs.Collector.GetSnapshot().Count(r => r.Id.Name == "QueueFull"), Is.GreaterThan(0), "the client's queue was never full: the test proves nothing");
            Assert.That(outcomes.Failed, Is.Empty);
            Assert.That(outcomes.Abandoned, Is.Empty);
            Assert.That(block.GetStatistics().Delivered, Is.EqualTo(Count));
            Assert.That(TopicReader.CountMessages(Cluster.BootstrapServers, Topic), Is.EqualTo(Count));
        });
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan atMost, CancellationToken ct)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.That(stopwatch.Elapsed, Is.LessThan(atMost), "the condition did not become true in time");
            await Task.Delay(TimeSpan.FromMilliseconds(20), ct);
        }
    }

    /// <summary>A small asynchronous serializer (the shape of a Schema Registry one): UTF-8 with a prefix.</summary>
    private sealed class PrefixingAsyncSerializer(string? failOn = null) : IAsyncSerializer<string>
    {
        public const string Prefix = "async:";

        public async Task<byte[]> SerializeAsync(string data, SerializationContext context)
        {
            await Task.Yield();
            if (data == failOn)
            {
                throw new FormatException($"cannot serialize {data}");
            }

            Assert.That(context.Component, Is.EqualTo(MessageComponentType.Value));
            return Encoding.UTF8.GetBytes(Prefix + data);
        }
    }
}
