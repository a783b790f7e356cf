using System.Globalization;
using System.Text;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Kafka.Tests.TestSupport;
using DataflowProducer.Tests.Shared;

namespace DataflowProducer.Kafka.Tests.Reliability;

/// <summary>The Kafka half of the bad-input matrix: records the client or a serializer refuses. Each time the offending
/// record alone is reported failed, with an error that says why, and the others are delivered and read back.</summary>
[Category(TestCategories.Integration)]
public class BadInputTests() : MockClusterFixture("bad")
{
    private const int Count = 40;
    private const int Bad = 17;
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(60);


    private BatchProducerBlock<KafkaRecord<string, string>> CreateBlock(Outcomes<KafkaRecord<string, string>> outcomes, KafkaSinkOptions<string, string>? sinkOptions = null, ProducerConfig? config = null, BatchProducerOptions? options = null)
    {
        sinkOptions ??= new KafkaSinkOptions<string, string>();
        sinkOptions.DefaultTopic = Topic;
        return KafkaProducerBlock.Create(
            config ?? new ProducerConfig { BootstrapServers = Cluster.BootstrapServers, LingerMs = 5 },
            sinkOptions,
            options ?? new BatchProducerOptions { BatchSize = 10, Linger = TimeSpan.FromMilliseconds(10) },
            outcomes.Callbacks);
    }

    /// <summary>Posts records v0..v(Count-1) with <paramref name="bad"/> in place of record <see cref="Bad"/>, completes,
    /// and checks: that record alone failed, the error is returned for the caller's message checks, the rest is in the
    /// topic exactly once, and the counts are exact.</summary>
    private async Task<Exception> RunWithOneBadRecordAsync(KafkaRecord<string, string> bad, CancellationToken ct, KafkaSinkOptions<string, string>? sinkOptions = null, ProducerConfig? config = null)
    {
        var outcomes = new Outcomes<KafkaRecord<string, string>>();
        var block = CreateBlock(outcomes, sinkOptions, config);
        var records = Enumerable.Range(0, Count).Select(i => i == Bad ? bad : new KafkaRecord<string, string>($"k{i}", $"v{i}")).ToList();
        foreach (var record in records)
        {
            Assert.That(await block.SendAsync(record, ct), Is.True);
        }

        block.Complete();
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));

        var read = TopicReader.ReadAll(Cluster.BootstrapServers, Topic, Deserializers.Utf8, Deserializers.Utf8, ReadTimeout);
        BatchProducerStatistics s = block.GetStatistics();
        ScenarioReport.Print(TestContext.Out, $"bad input: {TestContext.CurrentContext.Test.Name}", Count, s, read.Count, read.Select(r => r.Message.Value).Distinct().Count());
        Assert.That(outcomes.Failed, Has.Count.EqualTo(1), "exactly the bad record fails");
        Exception error = outcomes.Failed[0].Error;
        TestContext.Out.WriteLine($"error: {error.GetType().Name}: {error.Message}");
        Assert.Multiple(() =>
        {
            Assert.That(outcomes.Failed[0].Item, Is.SameAs(bad));
            Assert.That(outcomes.Abandoned, Is.Empty);
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(Count, s.Batches, Count - 1, 1, 0, 0)));
            Assert.That(completion, Is.TypeOf<BatchProducerException<KafkaRecord<string, string>>>().With.Message.Contains($"{Count} accepted, {Count - 1} delivered, 1 failed, 0 abandoned"));
            Assert.That(read.Select(r => r.Message.Value), Is.EquivalentTo(records.Where(r => r != bad).Select(r => r.Value)));
        });
        return error;
    }

    [Test, CancelAfter(60_000)]
    public async Task Create_NullValueRejectedBySerializer_ThatRecordFailsWithTheSerializerMessage(CancellationToken ct)
    {
        var options = new KafkaSinkOptions<string, string> { ValueSerializer = new NonNullUtf8("value") };

        Exception error = await RunWithOneBadRecordAsync(new KafkaRecord<string, string>("k-null", null!), ct, options);

        Assert.That(error, Is.InstanceOf<KafkaException>().With.Message.Contains("value must not be null"));
        Assert.That(((KafkaException)error).Error.Code, Is.EqualTo(ErrorCode.Local_ValueSerialization));
    }

    [Test, CancelAfter(60_000)]
    public async Task Create_NullKeyRejectedBySerializer_ThatRecordFailsWithTheSerializerMessage(CancellationToken ct)
    {
        var options = new KafkaSinkOptions<string, string> { KeySerializer = new NonNullUtf8("key") };

        Exception error = await RunWithOneBadRecordAsync(new KafkaRecord<string, string>(null!, "v-null-key"), ct, options);

        Assert.That(error, Is.InstanceOf<KafkaException>().With.Message.Contains("key must not be null"));
        Assert.That(((KafkaException)error).Error.Code, Is.EqualTo(ErrorCode.Local_KeySerialization));
    }

    [Test, CancelAfter(60_000)]
    public async Task Create_SerializerThrowsForOneValue_ThatRecordFailsWithTheSerializerMessage(CancellationToken ct)
    {
        var options = new KafkaSinkOptions<string, string> { ValueSerializer = new ThrowingUtf8("poison") };

        Exception error = await RunWithOneBadRecordAsync(new KafkaRecord<string, string>("k-poison", "poison"), ct, options);

        Assert.That(error, Is.InstanceOf<KafkaException>().With.Message.Contains("cannot serialize 'poison'"));
        Assert.That(error.InnerException, Is.TypeOf<FormatException>());
    }

    [Test, CancelAfter(60_000)]
    public async Task Create_AsyncSerializerThrowsForOneValue_ThatRecordFailsWithTheSerializerMessage(CancellationToken ct)
    {
        var options = new KafkaSinkOptions<string, string> { AsyncValueSerializer = new ThrowingUtf8("poison") };

        Exception error = await RunWithOneBadRecordAsync(new KafkaRecord<string, string>("k-poison", "poison"), ct, options);

        Assert.That(error, Is.InstanceOf<KafkaException>().With.Message.Contains("cannot serialize 'poison'"));
    }

    [TestCase(MessageComponentType.Key)]
    [TestCase(MessageComponentType.Value)]
    [CancelAfter(60_000)]
    public async Task Create_AsyncSerializerReturnsCanceledTask_ThatRecordFailsAndTheRestIsDelivered(MessageComponentType component, CancellationToken ct)
    {
        // A schema registry call whose HttpClient times out ends as a TaskCanceledException.
        var canceling = new CancelingUtf8("poison");
        var options = component == MessageComponentType.Key
            ? new KafkaSinkOptions<string, string> { AsyncKeySerializer = canceling }
            : new KafkaSinkOptions<string, string> { AsyncValueSerializer = canceling };
        var bad = component == MessageComponentType.Key ? new KafkaRecord<string, string>("poison", "v-poison") : new KafkaRecord<string, string>("k-poison", "poison");

        Exception error = await RunWithOneBadRecordAsync(bad, ct, options);

        Assert.That(error, Is.TypeOf<ProduceException<string, string>>());
        Assert.Multiple(() =>
        {
            Assert.That(((KafkaException)error).Error.Code, Is.EqualTo(component == MessageComponentType.Key ? ErrorCode.Local_KeySerialization : ErrorCode.Local_ValueSerialization));
            Assert.That(error.InnerException, Is.InstanceOf<OperationCanceledException>());
        });
    }

    [TestCase(false)]
    [TestCase(true)]
    [CancelAfter(60_000)]
    public async Task Create_KeySerializerThrowsInEitherProduceMode_SameErrorTypeAndKeySerializationCode(bool asynchronous, CancellationToken ct)
    {
        var throwing = new ThrowingUtf8("poison");
        var options = asynchronous
            ? new KafkaSinkOptions<string, string> { AsyncKeySerializer = throwing }
            : new KafkaSinkOptions<string, string> { KeySerializer = throwing };

        Exception error = await RunWithOneBadRecordAsync(new KafkaRecord<string, string>("poison", "v-poison"), ct, options);

        Assert.That(error, Is.TypeOf<ProduceException<string, string>>().With.Message.Contains("cannot serialize 'poison'"));
        Assert.Multiple(() =>
        {
            Assert.That(((KafkaException)error).Error.Code, Is.EqualTo(ErrorCode.Local_KeySerialization));
            Assert.That(((ProduceException<string, string>)error).DeliveryResult.Message, Is.TypeOf<KafkaRecord<string, string>>().With.Property("Key").EqualTo("poison"));
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Create_ValueOverMessageMaxBytes_ThatRecordFailsAsTooLarge(CancellationToken ct)
    {
        var config = new ProducerConfig { BootstrapServers = Cluster.BootstrapServers, LingerMs = 5, MessageMaxBytes = 100_000 };

        Exception error = await RunWithOneBadRecordAsync(new KafkaRecord<string, string>("k-big", new string('x', 200_000)), ct, config: config);

        Assert.That(error, Is.InstanceOf<KafkaException>().With.Message.Contains("too large").IgnoreCase);
        Assert.That(((KafkaException)error).Error.Code, Is.EqualTo(ErrorCode.MsgSizeTooLarge));
    }

    [TestCase("bad topic!", "contains ' '")]
    [TestCase("a/b", "contains '/'")]
    [TestCase("..", "'.' and '..' are reserved")]
    [TestCase(300, "300 characters long, more than 249")]
    [CancelAfter(60_000)]
    public async Task Create_InvalidTopicName_ThatRecordFailsNamingTheTopicAndTheRule(object topic, string rule, CancellationToken ct)
    {
        string name = topic as string ?? new string('t', (int)topic);

        Exception error = await RunWithOneBadRecordAsync(new KafkaRecord<string, string>("k-bad-topic", "v-bad-topic", name), ct);

        Assert.That(error, Is.TypeOf<ArgumentException>().With.Message.Contains($"topic '{name}' is not a legal Kafka topic name").And.Message.Contains(rule));
    }

    [TestCase("bad topic!")]
    [TestCase(".")]
    public void Create_InvalidDefaultTopic_ThrowsBeforeAnythingStartsNamingTheOption(string topic)
    {
        Assert.That(
            () => KafkaProducerBlock.Create(new ProducerConfig { BootstrapServers = Cluster.BootstrapServers }, new KafkaSinkOptions<string, string> { DefaultTopic = topic }),
            Throws.ArgumentException.With.Message.Contains($"KafkaSinkOptions.DefaultTopic must be a legal Kafka topic name, but '{topic}' is not"));
    }

    [Test, CancelAfter(60_000)]
    public async Task Create_RecordWithoutTopicAndNoDefault_ThatRecordFailsNamingTheSetting(CancellationToken ct)
    {
        var outcomes = new Outcomes<KafkaRecord<string, string>>();
        var block = KafkaProducerBlock.Create(
            new ProducerConfig { BootstrapServers = Cluster.BootstrapServers, LingerMs = 5 },
            new KafkaSinkOptions<string, string>(),
            new BatchProducerOptions { BatchSize = 10, Linger = TimeSpan.FromMilliseconds(10) },
            outcomes.Callbacks);
        var good = Enumerable.Range(0, 5).Select(i => new KafkaRecord<string, string>($"k{i}", $"v{i}", Topic)).ToList();
        var orphan = new KafkaRecord<string, string>("k-orphan", "v-orphan");

        foreach (var record in good.Append(orphan))
        {
            Assert.That(await block.SendAsync(record, ct), Is.True);
        }

        block.Complete();
        await Records.ExceptionOf(block.Completion.WaitAsync(ct));

        Assert.Multiple(() =>
        {
            Assert.That(outcomes.Failed.Select(f => f.Item), Is.EqualTo(new[] { orphan }));
            Assert.That(outcomes.Failed[0].Error.Message, Does.Contain("KafkaSinkOptions.DefaultTopic"));
            Assert.That(block.GetStatistics().Delivered, Is.EqualTo(5));
            Assert.That(TopicReader.CountMessages(Cluster.BootstrapServers, Topic), Is.EqualTo(5));
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Create_ProducerThrowsNonKafkaErrorMidBatch_RecordsHandedOverKeepTheirOutcomeAndEveryUnsentRecordIsHandedBack(CancellationToken ct)
    {
        // A client that breaks (not one message's failure): that record fails with the error, nothing more is handed
        // over, and the next batch is refused, which stops the pipeline. The records it took before keep their outcome.
        var stub = new ProducerStub { React = (attempt, _) => attempt == 12 ? Reaction.Refuse(new InvalidOperationException("the client handle is broken")) : Reaction.Deliver };
        var outcomes = new Outcomes<KafkaRecord<string, string>>();
        var block = KafkaProducerBlock.Create(stub.Producer, new KafkaSinkOptions<string, string> { DefaultTopic = "t" }, new BatchProducerOptions { BatchSize = 10, Linger = TimeSpan.FromHours(1) }, outcomes.Callbacks);
        var records = Records.Create(25, topic: null);

        foreach (var record in records)
        {
            Assert.That(block.Post(record), Is.True);
        }

        block.Complete();
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));

        BatchProducerStatistics s = block.GetStatistics();
        Assert.Multiple(() =>
        {
            Assert.That(completion, Is.TypeOf<BatchProducerException<KafkaRecord<string, string>>>().With.Message.Contains("25 accepted, 12 delivered, 1 failed, 12 abandoned"));
            Assert.That(completion!.InnerException, Is.TypeOf<InvalidOperationException>().With.Message.EqualTo("the client handle is broken"));
            Assert.That(outcomes.Failed.Select(f => f.Item), Is.EqualTo(new[] { records[12] }));
            Assert.That(outcomes.Abandoned, Is.EquivalentTo(records.Skip(13)), "the rest of the broken batch and the last batch: never handed over");
            Assert.That(stub.ProducedValues, Is.EqualTo(records.Take(12).Select(r => r.Value)));
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(25, s.Batches, 12, 1, 12, 0) { NotSent = 7, Unknown = 5 }), "13-19 not sent by the sink; the last batch is refused by a throwing AcceptAsync, which the pipeline can only count as unknown");
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Create_AllBrokersDownAndShortDrainTimeout_AcknowledgementNeverComesSoRecordsHandedBack(CancellationToken ct)
    {
        var outcomes = new Outcomes<KafkaRecord<string, string>>();
        Cluster.SetAllBrokersDown();
        var block = CreateBlock(outcomes, options: new BatchProducerOptions { BatchSize = 10, Linger = TimeSpan.FromMilliseconds(10), DrainTimeout = TimeSpan.FromMilliseconds(500) });
        var records = Records.Create(Count, topic: null);

        foreach (var record in records)
        {
            Assert.That(await block.SendAsync(record, ct), Is.True);
        }

        block.Complete();
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));

        Assert.Multiple(() =>
        {
            Assert.That(outcomes.Abandoned, Is.EquivalentTo(records));
            Assert.That(completion, Is.TypeOf<BatchProducerException<KafkaRecord<string, string>>>()
                .With.Message.Contains($"{Count} accepted, 0 delivered, 0 failed, {Count} abandoned")
                .And.Message.Contains("drain did not finish within the drain timeout"));
        });
    }

    /// <summary>UTF-8, but refuses null (Confluent's own writes nothing for null, which a schema may forbid).</summary>
    private sealed class NonNullUtf8(string component) : ISerializer<string>
    {
        public byte[] Serialize(string data, SerializationContext context) =>
            data is null ? throw new ArgumentNullException(nameof(data), $"The {component} must not be null.") : Encoding.UTF8.GetBytes(data);
    }

    private sealed class CancelingUtf8(string poison) : IAsyncSerializer<string>
    {
        public Task<byte[]> SerializeAsync(string data, SerializationContext context) =>
            data == poison ? Task.FromCanceled<byte[]>(new CancellationToken(canceled: true)) : Task.FromResult(Encoding.UTF8.GetBytes(data));
    }

    private sealed class ThrowingUtf8(string poison) : ISerializer<string>, IAsyncSerializer<string>
    {
        public byte[] Serialize(string data, SerializationContext context) =>
            data == poison ? throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"cannot serialize '{data}'")) : Encoding.UTF8.GetBytes(data);

        public Task<byte[]> SerializeAsync(string data, SerializationContext context) => Task.FromResult(Serialize(data, context));
    }
}
