using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Tests.TestSupport;
using NSubstitute;
using NSubstitute.ExceptionExtensions;

namespace DataflowProducer.Kafka.Tests;

/// <summary>The committer's policy over a substituted consumer: offsets are stored only up to the contiguous prefix
/// of final outcomes, per partition.</summary>
public class KafkaOffsetCommitterTests
{
    private static readonly TopicPartition P0 = new("a", 0);
    private static readonly TopicPartition P1 = new("a", 1);

    private IConsumer<string, string> _consumer = null!;
    private KafkaConsumerSource<string, string> _source = null!;
    private List<TopicPartitionOffset> _stored = null!;

    [SetUp]
    public void SetUp()
    {
        _consumer = Substitute.For<IConsumer<string, string>>();
        _stored = [];
        _consumer.When(c => c.StoreOffset(Arg.Any<TopicPartitionOffset>())).Do(call =>
        {
            lock (_stored)
            {
                _stored.Add(call.Arg<TopicPartitionOffset>());
            }
        });
        _source = new KafkaConsumerSource<string, string>(_consumer);
    }

    [TearDown]
    public async Task TearDown()
    {
        await _source.DisposeAsync();
        _consumer.Dispose();
    }

    [Test, CancelAfter(10_000)]
    public async Task Apply_DeliveredOutOfOrder_StoresOnlyTheContiguousPrefixPlusOne(CancellationToken ct)
    {
        var records = Track(P0, 0, 1, 2, 3, 4);
        var sut = CreateSut();

        await Feed(sut, [records[0], records[1], records[3], records[4]], _ => OutcomeStatus.Delivered, ct);
        Assert.That(_stored, Is.EqualTo(new[] { Position(P0, 2) }), "2 is still in the pipeline");

        await Feed(sut, [records[2]], _ => OutcomeStatus.Delivered, ct);
        await Complete(sut, ct);
        Assert.Multiple(() =>
        {
            Assert.That(_stored, Is.EqualTo(new[] { Position(P0, 2), Position(P0, 5) }));
            Assert.That(sut.GetStoredOffsets(), Is.EqualTo(new[] { Position(P0, 5) }));
            Assert.That(sut.Completed, Is.EqualTo(5));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Apply_OffsetsWithGaps_CommittedOffsetIsLastSafePlusOne(CancellationToken ct)
    {
        // Transaction markers and compaction leave gaps; only consumed offsets are tracked.
        var records = Track(P0, 10, 12, 17);
        var sut = CreateSut();

        await Feed(sut, records, _ => OutcomeStatus.Delivered, ct);
        await Complete(sut, ct);

        Assert.That(sut.GetStoredOffsets(), Is.EqualTo(new[] { Position(P0, 18) }));
    }

    [TestCase(OutcomeStatus.Failed)]
    [TestCase(OutcomeStatus.NotSent)]
    [TestCase(OutcomeStatus.Unknown)]
    [CancelAfter(10_000)]
    public async Task Apply_NotFinalWithoutDeadLetter_HoldsThePartitionAtTheRecordBefore(OutcomeStatus status, CancellationToken ct)
    {
        var records = Track(P0, 0, 1, 2, 3);
        var sut = CreateSut();

        await Feed(sut, records, r => r == records[1] ? status : OutcomeStatus.Delivered, ct);
        await Complete(sut, ct);

        Assert.Multiple(() =>
        {
            Assert.That(_stored, Is.EqualTo(new[] { Position(P0, 1) }), "never past offset 1");
            Assert.That(sut.Blocked, Is.EqualTo(1));
            Assert.That(sut.Completed, Is.EqualTo(3));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Apply_FailureInOnePartition_OtherPartitionsGoOn(CancellationToken ct)
    {
        var p0 = Track(P0, 0, 1);
        var p1 = Track(P1, 0, 1);
        var sut = CreateSut();

        await Feed(sut, [p0[0], p1[0], p0[1], p1[1]], r => r == p0[0] ? OutcomeStatus.Failed : OutcomeStatus.Delivered, ct);
        await Complete(sut, ct);

        Assert.That(sut.GetStoredOffsets(), Is.EqualTo(new[] { Position(P1, 2) }));
    }

    [Test, CancelAfter(10_000)]
    public async Task Apply_FailedWithDeadLetter_PassesItOnlyAfterTheHandlerReturned(CancellationToken ct)
    {
        var records = Track(P0, 0, 1, 2);
        var handled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var called = new TaskCompletionSource<ItemOutcome<KafkaRecord<string, string>>>(TaskCreationOptions.RunContinuationsAsynchronously);
        var sut = CreateSut(new KafkaOffsetCommitterOptions<KafkaRecord<string, string>>
        {
            DeadLetter = (outcome, _) =>
            {
                called.TrySetResult(outcome);
                return handled.Task;
            },
        });

        BatchOutcome<KafkaRecord<string, string>> outcome = await OutcomeFactory.BatchAsync(records, r => r == records[1] ? OutcomeStatus.Failed : OutcomeStatus.Delivered, ct);
        await sut.SendAsync(outcome, ct);
        ItemOutcome<KafkaRecord<string, string>> deadLettered = await called.Task.WaitAsync(ct);
        Assert.Multiple(() =>
        {
            Assert.That(deadLettered.Item, Is.SameAs(records[1]));
            Assert.That(deadLettered.Status, Is.EqualTo(OutcomeStatus.Failed));
            Assert.That(_stored, Is.EqualTo(new[] { Position(P0, 1) }), "not past the failure while the handler runs");
        });

        handled.SetResult();
        await Complete(sut, ct);
        Assert.That(sut.GetStoredOffsets(), Is.EqualTo(new[] { Position(P0, 3) }));
    }

    [Test, CancelAfter(10_000)]
    public async Task Apply_DeadLetterThrows_HoldsThePartition(CancellationToken ct)
    {
        var records = Track(P0, 0, 1, 2);
        var sut = CreateSut(new KafkaOffsetCommitterOptions<KafkaRecord<string, string>>
        {
            DeadLetter = (_, _) => throw new InvalidOperationException("dead-letter topic unavailable"),
        });

        await Feed(sut, records, r => r == records[1] ? OutcomeStatus.Failed : OutcomeStatus.Delivered, ct);
        await Complete(sut, ct);

        Assert.Multiple(() =>
        {
            Assert.That(sut.GetStoredOffsets(), Is.EqualTo(new[] { Position(P0, 1) }));
            Assert.That(sut.Blocked, Is.EqualTo(1));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Acknowledge_RecordFilteredOut_PartitionPassesIt(CancellationToken ct)
    {
        var records = Track(P0, 0, 1, 2);
        var sut = CreateSut();

        // The transform dropped record 1: it produces nothing, so it has no outcome; the job acknowledges it.
        Assert.That(sut.Acknowledge(Position(P0, 1)), Is.True);
        await Feed(sut, [records[0], records[2]], _ => OutcomeStatus.Delivered, ct);
        await Complete(sut, ct);

        Assert.Multiple(() =>
        {
            Assert.That(sut.GetStoredOffsets(), Is.EqualTo(new[] { Position(P0, 3) }));
            Assert.That(sut.Acknowledge(Position(P0, 1)), Is.False, "already final");
            Assert.That(sut.Acknowledge(Position(P1, 0)), Is.False, "never consumed");
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Apply_RecordsFilteredOutAndNotAcknowledged_PartitionWaitsForThem(CancellationToken ct)
    {
        var records = Track(P0, 0, 1, 2);
        var sut = CreateSut();

        await Feed(sut, [records[0], records[2]], _ => OutcomeStatus.Delivered, ct);
        await Complete(sut, ct);

        Assert.That(sut.GetStoredOffsets(), Is.EqualTo(new[] { Position(P0, 1) }), "a record still unaccounted for holds its partition");
    }

    [Test, CancelAfter(10_000)]
    public async Task OnRevoked_CommitsTheSafeOffsetsAndIgnoresLaterOutcomes(CancellationToken ct)
    {
        var p0 = Track(P0, 0, 1, 2);
        var p1 = Track(P1, 0);
        var sut = CreateSut();
        await Feed(sut, [p0[0], p1[0]], _ => OutcomeStatus.Delivered, ct);

        _source.OnRevoked([P0], lost: false);
        await Feed(sut, [p0[1], p0[2]], _ => OutcomeStatus.Delivered, ct);
        await Complete(sut, ct);

        _consumer.Received(1).Commit(Arg.Is<IEnumerable<TopicPartitionOffset>>(o => o.SequenceEqual(new[] { Position(P0, 1) })));
        Assert.Multiple(() =>
        {
            Assert.That(_stored, Is.EquivalentTo(new[] { Position(P0, 1), Position(P1, 1) }), "nothing stored for the revoked partition afterwards");
            Assert.That(sut.GetStoredOffsets(), Is.EqualTo(new[] { Position(P1, 1) }));
            Assert.That(sut.Ignored, Is.EqualTo(2));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task OnRevoked_Lost_ForgetsWithoutCommitting(CancellationToken ct)
    {
        var p0 = Track(P0, 0);
        var sut = CreateSut();
        await Feed(sut, p0, _ => OutcomeStatus.Delivered, ct);

        _source.OnRevoked([P0], lost: true);

        _consumer.DidNotReceiveWithAnyArgs().Commit(default(IEnumerable<TopicPartitionOffset>)!);
        Assert.That(sut.GetStoredOffsets(), Is.Empty);
    }

    [Test, CancelAfter(10_000)]
    public async Task OnRevoked_PartitionAssignedAgain_TracksFromTheNewPosition(CancellationToken ct)
    {
        Track(P0, 0, 1);
        var sut = CreateSut();
        _source.OnRevoked([P0], lost: false);
        _source.OnAssigned([P0]);

        // Read again from the committed offset (0): a new assignment starts over.
        var again = Track(P0, 0, 1);
        await Feed(sut, again, _ => OutcomeStatus.Delivered, ct);
        await Complete(sut, ct);

        Assert.That(sut.GetStoredOffsets(), Is.EqualTo(new[] { Position(P0, 2) }));
    }

    [Test, CancelAfter(10_000)]
    public async Task Apply_ClientRefusesTheStore_NothingStoredAndTheCommitterGoesOn(CancellationToken ct)
    {
        _consumer.When(c => c.StoreOffset(Arg.Any<TopicPartitionOffset>())).Throw(new KafkaException(ErrorCode.Local_State));
        var records = Track(P0, 0, 1);
        var sut = CreateSut();

        await Feed(sut, records, _ => OutcomeStatus.Delivered, ct);
        await Complete(sut, ct);

        Assert.That(sut.GetStoredOffsets(), Is.Empty);
    }

    [Test, CancelAfter(10_000)]
    public async Task Apply_ItemWithoutSourcePosition_IsIgnored(CancellationToken ct)
    {
        var records = Track(P0, 0);
        var stray = new KafkaRecord<string, string>("k", "v");
        var sut = CreateSut();

        await Feed(sut, [stray, records[0]], _ => OutcomeStatus.Delivered, ct);
        await Complete(sut, ct);

        Assert.Multiple(() =>
        {
            Assert.That(sut.Ignored, Is.EqualTo(1));
            Assert.That(sut.GetStoredOffsets(), Is.EqualTo(new[] { Position(P0, 1) }));
        });
    }

    [Test]
    public void CreateCommitter_BoundedCapacityZero_ThrowsNamingTheOption()
    {
        Assert.That(
            () => _source.CreateCommitter<string, string>(new KafkaOffsetCommitterOptions<KafkaRecord<string, string>> { BoundedCapacity = 0 }),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains("KafkaOffsetCommitterOptions.BoundedCapacity must be at least 1, but was 0."));
    }

    private static TopicPartitionOffset Position(TopicPartition partition, long offset) => new(partition, new Offset(offset));

    private static async Task Feed(KafkaOffsetCommitter<KafkaRecord<string, string>> sut, IReadOnlyList<KafkaRecord<string, string>> records, Func<KafkaRecord<string, string>, OutcomeStatus> status, CancellationToken ct)
    {
        BatchOutcome<KafkaRecord<string, string>> outcome = await OutcomeFactory.BatchAsync(records, status, ct);

        // The committer applies outcomes on its own thread: wait until it has applied this one.
        var applied = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        sut.Applied = o =>
        {
            if (ReferenceEquals(o, outcome))
            {
                applied.TrySetResult();
            }
        };
        Assert.That(await sut.SendAsync(outcome, ct), Is.True);
        await applied.Task.WaitAsync(ct);
    }

    private static async Task Complete(KafkaOffsetCommitter<KafkaRecord<string, string>> sut, CancellationToken ct)
    {
        sut.Complete();
        await sut.Completion.WaitAsync(ct);
    }

    private KafkaOffsetCommitter<KafkaRecord<string, string>> CreateSut(KafkaOffsetCommitterOptions<KafkaRecord<string, string>>? options = null) =>
        _source.CreateCommitter<string, string>(options);

    // What the consume loop does for each record before it emits it; the records carry their position as Correlation.
    private List<KafkaRecord<string, string>> Track(TopicPartition partition, params long[] offsets)
    {
        var records = new List<KafkaRecord<string, string>>();
        foreach (long offset in offsets)
        {
            _source.Tracker.Track(partition, offset);
            records.Add(new KafkaRecord<string, string>($"k{offset}", $"v{offset}") { Correlation = Position(partition, offset) });
        }

        return records;
    }
}
