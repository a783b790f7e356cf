using System.Diagnostics;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Kafka.Tests.TestSupport;
using DataflowProducer.Tests.Shared;

namespace DataflowProducer.Kafka.Tests.RealBroker;

/// <summary>The block against a real Kafka process: the embedded 0.9.0.1 broker (headers, timestamps and idempotence
/// do not exist there), or the cluster named by KAFKA_BOOTSTRAP_SERVERS.</summary>
[Category(TestCategories.RealBroker)]
public class KafkaProducerBlockRealBrokerTests
{
    private const int Partitions = 4;
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(120);

    private RealKafkaBroker _broker = null!;
    private string _topic = null!;

    [SetUp]
    public void SetUp()
    {
        _broker = RealBrokerSetUp.Broker;
        _topic = $"rb-{Guid.NewGuid():N}";
        CreateTopic();
    }

    // EnableIdempotence stays unset on purpose: for the 0.9 fallback the sink must leave it off (an idempotent
    // producer cannot start against a 0.9 broker); for a modern external cluster it turns it on.
    private ProducerConfig Config(int? messageMaxBytes = null)
    {
        var config = new ProducerConfig { BootstrapServers = _broker.BootstrapServers, Acks = Acks.All, LingerMs = 5, MessageMaxBytes = messageMaxBytes };
        _broker.ApplyClientSettings(config);
        return config;
    }

    private ClientConfig ReaderConfig()
    {
        var config = new ClientConfig { BootstrapServers = _broker.BootstrapServers };
        _broker.ApplyClientSettings(config);
        return config;
    }

    private IReadOnlyList<ConsumeResult<string, string>> ReadAll() =>
        TopicReader.ReadAll(ReaderConfig(), _topic, Deserializers.Utf8, Deserializers.Utf8, ReadTimeout);

    private static KafkaRecord<string, string> Keyed(int i) => new($"k{i % 17}", $"v{i}");

    private BatchProducerBlock<KafkaRecord<string, string>> CreateBlock(Outcomes<KafkaRecord<string, string>> outcomes, ProducerConfig? config = null, BatchProducerOptions? options = null) =>
        KafkaProducerBlock.Create(
            config ?? Config(),
            new KafkaSinkOptions<string, string> { DefaultTopic = _topic },
            options ?? new BatchProducerOptions { BatchSize = 1000, Linger = TimeSpan.FromMilliseconds(20) },
            outcomes.Callbacks);

    [Test, CancelAfter(240_000)]
    public async Task Create_20000Records_AllReadBackOnceInPostOrder(CancellationToken ct)
    {
        const int Count = 20_000;
        var outcomes = new Outcomes<KafkaRecord<string, string>>();
        var block = CreateBlock(outcomes);

        foreach (int i in Enumerable.Range(0, Count))
        {
            Assert.That(await block.SendAsync(Keyed(i), ct), Is.True);
        }

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
    public async Task Create_HugeBatchAndLingerThenComplete_Final25RecordsReadBack(CancellationToken ct)
    {
        var outcomes = new Outcomes<KafkaRecord<string, string>>();
        var block = CreateBlock(outcomes, options: new BatchProducerOptions { BatchSize = 1_000_000, BoundedCapacity = 1_000_000, Linger = TimeSpan.FromHours(1) });

        foreach (int i in Enumerable.Range(0, 25))
        {
            Assert.That(await block.SendAsync(Keyed(i), ct), Is.True);
        }

        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.That(block.GetStatistics().Delivered, Is.EqualTo(25));
        ReadBack.AssertExactlyOnceInPostOrder(ReadAll(), 25);
    }

    [Test, CancelAfter(120_000)]
    public async Task Create_ValueOverBrokerMessageMaxBytes_BrokerRejectsItAloneRestDelivered(CancellationToken ct)
    {
        // The client allows 2,000,000 bytes, so the broker itself judges the message. A broker rejects the whole
        // message set of a partition that holds an oversized message, so the oversized record goes to a partition
        // of its own and the others to the remaining ones.
        var outcomes = new Outcomes<KafkaRecord<string, string>>();
        var block = CreateBlock(outcomes, Config(messageMaxBytes: 2_000_000));
        var records = Enumerable.Range(0, 60).Select(i => new KafkaRecord<string, string>($"k{i}", $"v{i}") { Partition = new Partition(1 + (i % (Partitions - 1))) }).ToList();
        var oversized = new KafkaRecord<string, string>("k-big", "v60" + new string('x', _broker.MessageMaxBytes + 1000)) { Partition = new Partition(0) };
        records.Insert(30, oversized);

        foreach (var record in records)
        {
            Assert.That(await block.SendAsync(record, ct), Is.True);
        }

        block.Complete();
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));

        Assert.That(outcomes.Failed, Has.Count.EqualTo(1));
        TestContext.Out.WriteLine($"The broker's answer to the oversized message: {outcomes.Failed[0].Error.GetType().Name}: {outcomes.Failed[0].Error.Message}");
        Assert.Multiple(() =>
        {
            Assert.That(outcomes.Failed[0].Item, Is.SameAs(oversized));
            Assert.That((outcomes.Failed[0].Error as KafkaException)?.Error.Code, Is.EqualTo(ErrorCode.MsgSizeTooLarge));
            Assert.That(outcomes.Abandoned, Is.Empty);
            Assert.That(block.GetStatistics().Delivered, Is.EqualTo(60));
            Assert.That(completion, Is.InstanceOf<BatchProducerException>().With.Message.Contains("1 failed"));
        });
        ReadBack.AssertExactlyOnceInPostOrder(ReadAll(), 60);
    }

    /// <summary>Creates the topic with <see cref="Partitions"/> partitions and waits until each has a leader. A 0.9
    /// broker cannot create topics on request; it auto-creates them (num.partitions = 4) when asked for metadata.</summary>
    [Test, CancelAfter(300_000)]
    public async Task Copy_StoppedAbruptlyOnceAndRestarted_EveryRecordInTheTargetDuplicatesAtMostInFlight(CancellationToken ct)
    {
        // Acknowledge-after-delivery against a real broker's consumer group (0.9: session.timeout.ms at most 30000).
        const int Count = 10_000;
        string target = $"rb-copy-{Guid.NewGuid():N}";
        CreateTopic(target);
        var seed = CreateBlock(new Outcomes<KafkaRecord<string, string>>());
        foreach (var record in Enumerable.Range(0, Count).Select(Keyed))
        {
            Assert.That(await seed.SendAsync(record, ct), Is.True);
        }

        seed.Complete();
        await seed.Completion.WaitAsync(ct);
        string group = $"rb-copy-{Guid.NewGuid():N}";

        int pendingAtStop;
        await using (var source = CopySource(group, completeAtEnd: false))
        {
            var (producer, _) = CopyPipeline(source, target);
            var stopwatch = Stopwatch.StartNew();
            while (producer.GetStatistics().Delivered < 3_000)
            {
                Assert.That(stopwatch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(120)), "the first run did not deliver 3,000 records");
                await Task.Delay(20, ct);
            }

            ((IDataflowBlock)producer).Fault(new InvalidOperationException("stopped by the test"));
            await source.DisposeAsync();
            pendingAtStop = source.PendingAtClose;
            await Records.ExceptionOf(producer.Completion.WaitAsync(ct));
        }

        await using (var source = CopySource(group, completeAtEnd: true))
        {
            var (producer, committer) = CopyPipeline(source, target);
            await committer.Completion.WaitAsync(TimeSpan.FromSeconds(120), ct);
            Assert.That(producer.GetStatistics().Abandoned + producer.GetStatistics().Failed, Is.Zero);
        }

        var read = TopicReader.ReadAll(ReaderConfig(), target, Deserializers.Utf8, Deserializers.Utf8, ReadTimeout);
        int duplicates = ReadBack.AssertAtLeastOnce(read, Count);
        await TestContext.Out.WriteLineAsync($"real broker copy: {Count} records, 1 stop ({pendingAtStop} in flight), read back {read.Count}: {duplicates} duplicates, lost 0");
        Assert.That(duplicates, Is.LessThanOrEqualTo(pendingAtStop));
    }

    private KafkaConsumerSource<string, string> CopySource(string group, bool completeAtEnd)
    {
        var config = new ConsumerConfig { BootstrapServers = _broker.BootstrapServers, GroupId = group, AutoOffsetReset = AutoOffsetReset.Earliest, SessionTimeoutMs = 10_000, QueuedMinMessages = 1000 };
        _broker.ApplyClientSettings(config);
        return new KafkaConsumerSource<string, string>(config, [_topic], new KafkaConsumerSourceOptions<string, string> { BoundedCapacity = 500, CompleteAtEndOfPartitions = completeAtEnd });
    }

    private (BatchProducerBlock<KafkaRecord<string, string>> Producer, KafkaOffsetCommitter<KafkaRecord<string, string>> Committer) CopyPipeline(KafkaConsumerSource<string, string> source, string target)
    {
        var transform = new TransformBlock<ConsumeResult<string, string>, KafkaRecord<string, string>>(
            static r => new KafkaRecord<string, string>(r.Message.Key, r.Message.Value) { Correlation = r },
            new ExecutionDataflowBlockOptions { BoundedCapacity = 500 });
        var producer = KafkaProducerBlock.Create(
            Config(),
            new KafkaSinkOptions<string, string> { DefaultTopic = target },
            new BatchProducerOptions { BatchSize = 250, BoundedCapacity = 2_000, Linger = TimeSpan.FromMilliseconds(10), EmitOutcomes = true, OutcomeBoundedCapacity = 4 });
        var committer = source.CreateCommitter<string, string>();
        var propagate = new DataflowLinkOptions { PropagateCompletion = true };
        source.LinkTo(transform, propagate);
        transform.LinkTo(producer, propagate);
        producer.Outcomes.LinkTo(committer, propagate);
        return (producer, committer);
    }

    private void CreateTopic() => CreateTopic(_topic);

    private void CreateTopic(string name)
    {
        var config = new AdminClientConfig(ReaderConfig());
        using var admin = new AdminClientBuilder(config).SetLogHandler((_, _) => { }).Build();
        if (!_broker.IsEmbedded)
        {
            admin.CreateTopicsAsync([new Confluent.Kafka.Admin.TopicSpecification { Name = name, NumPartitions = Partitions, ReplicationFactor = 1 }])
                .WaitAsync(TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
        }

        var stopwatch = Stopwatch.StartNew();
        while (true)
        {
            TopicMetadata? topic = null;
            try
            {
                topic = admin.GetMetadata(name, TimeSpan.FromSeconds(5)).Topics.SingleOrDefault(t => t.Topic == name);
            }
            catch (KafkaException)
            {
                // Not there yet.
            }

            if (topic is { Error.IsError: false } && topic.Partitions.Count == Partitions && topic.Partitions.TrueForAll(p => p.Leader >= 0))
            {
                return;
            }

            Assert.That(stopwatch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(60)), $"topic {name} did not get {Partitions} partitions with leaders");
            Thread.Sleep(200);
        }
    }
}
