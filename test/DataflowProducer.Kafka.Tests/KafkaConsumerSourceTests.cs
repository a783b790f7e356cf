using System.Collections.Concurrent;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using NSubstitute;
using NSubstitute.ExceptionExtensions;

namespace DataflowProducer.Kafka.Tests;

/// <summary>The consume loop over a substituted consumer: order, backpressure, end of partitions, stop, and bad configuration.</summary>
public class KafkaConsumerSourceTests
{
    private static readonly TopicPartition P0 = new("a", 0);
    private static readonly TopicPartition P1 = new("a", 1);

    private IConsumer<string, string> _consumer = null!;
    private BlockingCollection<ConsumeResult<string, string>> _script = null!;
    private int _consumed;

    [SetUp]
    public void SetUp()
    {
        _script = [];
        _consumed = 0;
        _consumer = Substitute.For<IConsumer<string, string>>();

        // Consume blocks until the test scripts a record or the source stops (as the real one does, by its token).
        _consumer.Consume(Arg.Any<CancellationToken>()).Returns(call =>
        {
            ConsumeResult<string, string> next = _script.Take(call.Arg<CancellationToken>());
            Interlocked.Increment(ref _consumed);
            return next;
        });
    }

    [TearDown]
    public void TearDown()
    {
        _script.Dispose();
        _consumer.Dispose();
    }

    [Test, CancelAfter(10_000)]
    public async Task Consume_Records_EmittedInOrderAndTrackedBeforeTheyAreTaken(CancellationToken ct)
    {
        await using var sut = Start();
        Script(Record(P0, 0), Record(P0, 1), Record(P1, 0));

        var received = new List<ConsumeResult<string, string>>();
        for (int i = 0; i < 3; i++)
        {
            received.Add(await sut.ReceiveAsync(ct));
        }

        Assert.Multiple(() =>
        {
            Assert.That(received.Select(r => r.TopicPartitionOffset.ToString()), Is.EqualTo(new[] { "a [[0]] @0", "a [[0]] @1", "a [[1]] @0" }));
            Assert.That(sut.Tracker.Pending(), Is.EqualTo(3), "every emitted record holds its partition until its outcome is final");
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Consume_PipelineDoesNotTake_StopsConsumingAtTheBoundNothingDropped(CancellationToken ct)
    {
        await using var sut = Start(new KafkaConsumerSourceOptions<string, string> { BoundedCapacity = 2 });
        Script([.. Enumerable.Range(0, 10).Select(i => Record(P0, i))]);

        // Two held by the source and one waiting for room on the consume thread: no more is consumed.
        while (Volatile.Read(ref _consumed) < 3)
        {
            await Task.Yield();
            ct.ThrowIfCancellationRequested();
        }

        int consumedWhileFull = Volatile.Read(ref _consumed);
        var received = new List<long>();
        for (int i = 0; i < 10; i++)
        {
            received.Add((await sut.ReceiveAsync(ct)).Offset.Value);
        }

        Assert.Multiple(() =>
        {
            Assert.That(consumedWhileFull, Is.EqualTo(3));
            Assert.That(received, Is.EqualTo(Enumerable.Range(0, 10).Select(i => (long)i)));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Consume_EveryAssignedPartitionAtItsEnd_CompletesWhenAsked(CancellationToken ct)
    {
        await using var sut = Start(new KafkaConsumerSourceOptions<string, string> { CompleteAtEndOfPartitions = true });
        sut.OnAssigned([P0, P1]);
        Script(Record(P0, 0), EndOf(P0), Record(P1, 0));
        await sut.ReceiveAsync(ct);
        await sut.ReceiveAsync(ct);
        Assert.That(sut.Completion.IsCompleted, Is.False, "P1 has not reached its end");

        Script(EndOf(P1));

        await sut.Completion.WaitAsync(ct);
    }

    [Test, CancelAfter(10_000)]
    public async Task Consume_PartitionAtItsEndReceivesMore_WaitsForItsEndAgain(CancellationToken ct)
    {
        await using var sut = Start(new KafkaConsumerSourceOptions<string, string> { CompleteAtEndOfPartitions = true });
        sut.OnAssigned([P0, P1]);
        Script(EndOf(P0), Record(P0, 5));
        await sut.ReceiveAsync(ct);
        Script(EndOf(P1));
        Script(Record(P1, 0));
        await sut.ReceiveAsync(ct);

        Assert.That(sut.Completion.IsCompleted, Is.False, "P0 received a record after its end");
        Script(EndOf(P0));
        Script(EndOf(P1));
        await sut.Completion.WaitAsync(ct);
    }

    [Test, CancelAfter(10_000)]
    public async Task Consume_EndOfPartitionsWithoutTheOption_KeepsConsuming(CancellationToken ct)
    {
        await using var sut = Start();
        sut.OnAssigned([P0]);
        Script(EndOf(P0), Record(P0, 1));

        ConsumeResult<string, string> next = await sut.ReceiveAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(next.Offset.Value, Is.EqualTo(1), "an end-of-partition event is never emitted as a record");
            Assert.That(sut.Completion.IsCompleted, Is.False);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Complete_StopsConsumingAndCompletesAfterWhatItHeldWasTaken(CancellationToken ct)
    {
        await using var sut = Start();
        Script(Record(P0, 0));
        while (sut.Tracker.Pending() == 0)
        {
            await Task.Yield();
            ct.ThrowIfCancellationRequested();
        }

        sut.Complete();
        Assert.That(sut.Completion.IsCompleted, Is.False, "one record is still held");
        await sut.ReceiveAsync(ct);

        await sut.Completion.WaitAsync(ct);
        _consumer.DidNotReceive().Close();
    }

    [Test, CancelAfter(10_000)]
    public async Task Consume_ConsumeThrows_SourceFaultsWithTheError(CancellationToken ct)
    {
        var broken = new ConsumeException(new ConsumeResult<byte[], byte[]>(), new Error(ErrorCode.Local_ValueDeserialization, "bad bytes"));
        _consumer.Consume(Arg.Any<CancellationToken>()).Throws(broken);
        await using var sut = Start();

        Assert.That(async () => await sut.Completion.WaitAsync(ct), Throws.TypeOf<ConsumeException>());
    }

    [TestCase(null, null, false, "group.id")]
    [TestCase("g", true, false, "enable.auto.offset.store")]
    [TestCase("g", null, true, "enable.partition.eof")]
    public void Constructor_BadConfiguration_ThrowsNamingTheSetting(string? groupId, bool? autoStore, bool eofOption, string setting)
    {
        var config = new ConsumerConfig { BootstrapServers = "127.0.0.1:1", GroupId = groupId, EnableAutoOffsetStore = autoStore };
        if (eofOption)
        {
            config.EnablePartitionEof = false;
        }

        Assert.That(
            () => new KafkaConsumerSource<string, string>(config, ["a"], new KafkaConsumerSourceOptions<string, string> { CompleteAtEndOfPartitions = eofOption }),
            Throws.ArgumentException.With.Message.Contains(setting));
    }

    [Test]
    public void Constructor_NoTopic_Throws()
    {
        Assert.That(() => new KafkaConsumerSource<string, string>(new ConsumerConfig { GroupId = "g" }, []), Throws.ArgumentException.With.Message.Contains("At least one topic"));
    }

    [TestCase(null)]
    [TestCase("")]
    public void Constructor_NullOrEmptyTopicName_Throws(string? topic)
    {
        Assert.That(() => new KafkaConsumerSource<string, string>(new ConsumerConfig { GroupId = "g" }, ["a", topic!]), Throws.ArgumentException.With.Message.Contains("null or empty"));
    }

    [TestCase(0)]
    [TestCase(-1)]
    public void Constructor_BoundedCapacityBelowOne_ThrowsNamingTheOptionAndValue(int capacity)
    {
        Assert.That(
            () => new KafkaConsumerSource<string, string>(_consumer, new KafkaConsumerSourceOptions<string, string> { BoundedCapacity = capacity }),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains($"BoundedCapacity must be at least 1, but was {capacity}"));
    }

    private static ConsumeResult<string, string> Record(TopicPartition partition, long offset) =>
        new() { TopicPartitionOffset = new TopicPartitionOffset(partition, new Offset(offset)), Message = new Message<string, string> { Key = $"k{offset}", Value = $"v{offset}" } };

    private static ConsumeResult<string, string> EndOf(TopicPartition partition) =>
        new() { TopicPartitionOffset = new TopicPartitionOffset(partition, new Offset(100)), IsPartitionEOF = true };

    private KafkaConsumerSource<string, string> Start(KafkaConsumerSourceOptions<string, string>? options = null)
    {
        var source = new KafkaConsumerSource<string, string>(_consumer, options);
        source.StartForTests();
        return source;
    }

    private void Script(params ConsumeResult<string, string>[] results)
    {
        foreach (ConsumeResult<string, string> result in results)
        {
            _script.Add(result);
        }
    }
}
