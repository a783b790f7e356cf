using System.Diagnostics;
using System.Text;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Internal;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Kafka.Tests.TestSupport;
using DataflowProducer.Tests.Shared;
using Microsoft.Extensions.Time.Testing;
using NSubstitute;

namespace DataflowProducer.Kafka.Tests.Reliability;

/// <summary>What a <see cref="HostilePluginTests"/> case plugs in.</summary>
public enum Hostile
{
    LoggerFactoryCreateLoggerThrows,
    LoggerAlwaysThrows,
    LoggerThrowsAtWarningAndAbove,
    LoggerThrowsInItemFailedOnly,
    SyncKeySerializerThrows,
    SyncValueSerializerThrows,
    AsyncKeySerializerThrows,
    AsyncValueSerializerThrows,
    AsyncKeySerializerReturnsFaultedTask,
    AsyncValueSerializerReturnsFaultedTask,
    AsyncKeySerializerReturnsCanceledTask,
    AsyncValueSerializerReturnsCanceledTask,
    AsyncKeySerializerNeverCompletes,
    AsyncValueSerializerNeverCompletes,
    SyncValueSerializerBlocksItsThread,
    AsyncValueSerializerBlocksItsThread,
    ProduceThrowsKafkaError,
    ProduceThrowsNonKafkaError,
    ProduceReportsFatalError,
    DeliveryHandlerNeverFires,
    FlushBlocks,
    NullRecord,
}

/// <summary>DESIGN §4 point 14 on the Kafka side: code the user plugs in — loggers and logger factories, sync and
/// async key and value serializers, the producer itself — misbehaves in every way it can (throws, faults, cancels,
/// never completes, blocks). Whatever it does, <c>Completion</c> finishes (a hang fails the test through
/// <c>CancelAfter</c>), nothing goes unobserved, and the counts are exact and agree everywhere: the statistics, the
/// callbacks and the completion exception, with every abandoned item handed back before <c>Completion</c> finished.</summary>
/// <remarks>Over substituted producers and a <see cref="FakeTimeProvider"/>: the drain timeout fires only when a case
/// moves time on, after the pipeline is stuck where the case puts it.</remarks>
public class HostilePluginTests
{
    private const int Count = 20;
    private const int Poison = 7; // HostileSerializer.IsPoison matches its key and value.
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(1);

    private readonly List<Exception> _unobserved = [];
    private FakeTimeProvider _time = null!;
    private ProducerStub _stub = null!;
    private BytesProducerStub _bytes = null!;
    private ManualResetEventSlim _release = null!;
    private SemaphoreSlim _flushEntered = null!;
    private Outcomes<KafkaRecord<string, string>> _outcomes = null!;

    [OneTimeSetUp]
    public void WatchUnobserved() => TaskScheduler.UnobservedTaskException += OnUnobserved;

    [OneTimeTearDown]
    public void StopWatching() => TaskScheduler.UnobservedTaskException -= OnUnobserved;

    [SetUp]
    public void SetUp()
    {
        _time = new FakeTimeProvider();
        _stub = new ProducerStub();
        _bytes = new BytesProducerStub();
        _release = new ManualResetEventSlim();
        _flushEntered = new SemaphoreSlim(0);
        _outcomes = new Outcomes<KafkaRecord<string, string>>();
        lock (_unobserved)
        {
            _unobserved.Clear();
        }
    }

    [TearDown]
    public void TearDown()
    {
        // Let a flush or a serializer the case blocked return, so its thread ends.
        _release.Set();
        _release.Dispose();
        _flushEntered.Dispose();
    }

    [TestCase(Hostile.LoggerFactoryCreateLoggerThrows, Count - 1, 1, 0)]
    [TestCase(Hostile.LoggerAlwaysThrows, Count - 1, 1, 0)]
    [TestCase(Hostile.LoggerThrowsAtWarningAndAbove, Count - 1, 1, 0)]
    [TestCase(Hostile.LoggerThrowsInItemFailedOnly, Count - 1, 1, 0)]
    [TestCase(Hostile.SyncKeySerializerThrows, Count - 1, 1, 0)]
    [TestCase(Hostile.SyncValueSerializerThrows, Count - 1, 1, 0)]
    [TestCase(Hostile.AsyncKeySerializerThrows, Count - 1, 1, 0)]
    [TestCase(Hostile.AsyncValueSerializerThrows, Count - 1, 1, 0)]
    [TestCase(Hostile.AsyncKeySerializerReturnsFaultedTask, Count - 1, 1, 0)]
    [TestCase(Hostile.AsyncValueSerializerReturnsFaultedTask, Count - 1, 1, 0)]
    [TestCase(Hostile.AsyncKeySerializerReturnsCanceledTask, Count - 1, 1, 0)]
    [TestCase(Hostile.AsyncValueSerializerReturnsCanceledTask, Count - 1, 1, 0)]
    [TestCase(Hostile.AsyncKeySerializerNeverCompletes, 5, 0, Count - 5)]
    [TestCase(Hostile.AsyncValueSerializerNeverCompletes, 5, 0, Count - 5)]
    [TestCase(Hostile.SyncValueSerializerBlocksItsThread, 5, 0, Count - 5)]
    [TestCase(Hostile.AsyncValueSerializerBlocksItsThread, 5, 0, Count - 5)]
    [TestCase(Hostile.ProduceThrowsKafkaError, Count - 1, 1, 0)]
    [TestCase(Hostile.ProduceThrowsNonKafkaError, Poison, 1, Count - Poison - 1)]
    [TestCase(Hostile.ProduceReportsFatalError, Poison, 1, Count - Poison - 1)]
    [TestCase(Hostile.DeliveryHandlerNeverFires, 0, 0, Count)]
    [TestCase(Hostile.FlushBlocks, Count, 0, 0)]
    [TestCase(Hostile.NullRecord, Count - 1, 1, 0)]
    [CancelAfter(20_000)]
    public async Task Completion_HostilePlugin_FinishesWithExactCountsEverywhere(Hostile hostile, int delivered, int failed, int abandoned, CancellationToken ct)
    {
        var started = Stopwatch.StartNew();
        var serializer = new HostileSerializer(hostile, _release);
        HostileLoggerFactory? loggers = LoggersFor(hostile);
        BatchProducerBlock<KafkaRecord<string, string>> block = CreateBlock(hostile, serializer, loggers);
        var records = Enumerable.Range(0, Count).Select(i => i == Poison && hostile == Hostile.NullRecord ? null! : new KafkaRecord<string, string>($"k{i}", $"v{i}")).ToArray();

        // A case that aborts may close the block while the last records are posted: those are declined (never
        // accepted, so never counted), not lost. Only an aborting case may decline any.
        int accepted = records.TakeWhile(block.Post).Count();
        int declined = Count - accepted;
        Assert.That(declined == 0 || abandoned >= declined, Is.True, $"{declined} record(s) declined by a pipeline that abandons nothing");
        abandoned -= declined;

        await StuckWhereTheCaseSaysAsync(hostile, serializer, ct);
        block.Complete();
        Exception? completion = await DriveToCompletionAsync(hostile, block, ct);

        // Snapshot what was handed back the moment Completion finished; nothing may arrive later.
        var failedAtCompletion = _outcomes.Failed;
        var abandonedAtCompletion = _outcomes.Abandoned;
        BatchProducerStatistics s = block.GetStatistics();
        await Task.Yield();
        TestContext.Out.WriteLine($"{hostile}: {s} in {started.ElapsedMilliseconds} ms; completion: {completion?.GetType().Name ?? "succeeded"}: {completion?.Message}");

        Assert.Multiple(() =>
        {
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(accepted, s.Batches, delivered, failed, abandoned, 0) { NotSent = s.NotSent, Unknown = s.Unknown }), "the statistics");
            Assert.That(s.NotSent + s.Unknown, Is.EqualTo(s.Abandoned), "abandoned = not sent + unknown");
            if (hostile == Hostile.DeliveryHandlerNeverFires)
            {
                Assert.That(s.Unknown, Is.EqualTo(accepted), "every record was handed to the client and never reported");
            }
            Assert.That(s.Accepted, Is.EqualTo(s.Delivered + s.Failed + s.Abandoned), "the accounting invariant");
            Assert.That(failedAtCompletion, Has.Count.EqualTo(failed), "ItemFailed callbacks by the time Completion finished");
            Assert.That(abandonedAtCompletion, Has.Count.EqualTo(abandoned), "ItemsAbandoned callbacks by the time Completion finished");
            Assert.That(_outcomes.Failed, Has.Count.EqualTo(failed), "no failure reported after Completion");
            Assert.That(_outcomes.Abandoned, Has.Count.EqualTo(abandoned), "no hand-back after Completion");
            Assert.That(failedAtCompletion.Select(f => f.Item).Concat(abandonedAtCompletion), Is.Unique, "each item reported once");
            if (failed == 1)
            {
                Assert.That(failedAtCompletion.Select(f => f.Item), Is.EqualTo(new[] { records[Poison] }), "the poison record alone failed");
            }

            if (hostile == Hostile.FlushBlocks || failed + abandoned > 0)
            {
                var error = completion as BatchProducerException<KafkaRecord<string, string>>;
                Assert.That(error, Is.Not.Null, $"Completion should fault with the counts, but was {completion}");
                Assert.That(error?.FailedItems.Select(f => f.Key), Is.EquivalentTo(failedAtCompletion.Select(f => f.Item)), "the exception's failed items");
                Assert.That(error?.AbandonedItems, Is.EquivalentTo(abandonedAtCompletion), "the exception's abandoned items");
                Assert.That(error?.Statistics, Is.EqualTo(s), "the exception's statistics");
            }
            else
            {
                Assert.That(completion, Is.Null, "Completion should succeed");
            }

            if (loggers is not null)
            {
                Assert.That(loggers.Throws, Is.GreaterThan(0), "the logger was never hostile: the case proves nothing");
                Assert.That(completion?.InnerException, Is.Not.InstanceOf<AggregateException>(), "a logger's exception reached the pipeline");
            }

            Assert.That(Unobserved(), Is.Empty, "unobserved task exceptions");
        });
    }

    [TestCase(LoggerHostility.AlwaysThrows, null)]
    [TestCase(LoggerHostility.ThrowsInOneEvent, "ClientLog")]
    [Category(TestCategories.Integration)]
    [CancelAfter(60_000)]
    public async Task Create_LoggerThatThrowsOnTheClientsOwnThreads_EveryRecordDelivered(LoggerHostility hostility, string? eventName, CancellationToken ct)
    {
        // librdkafka's log handler runs on the client's threads (its debug log is on here): a logger that throws
        // there must not crash the process or lose a record.
        using var cluster = MockKafkaCluster.Start(3);
        string topic = $"hostile-{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, partitions: 2);
        var loggers = new HostileLoggerFactory(hostility, eventName);
        var block = KafkaProducerBlock.Create(
            new ProducerConfig { BootstrapServers = cluster.BootstrapServers, LingerMs = 5, Debug = "broker,msg" },
            new KafkaSinkOptions<string, string> { DefaultTopic = topic },
            new BatchProducerOptions { BatchSize = 10, Linger = TimeSpan.FromMilliseconds(10), DrainTimeout = TimeSpan.FromSeconds(30) },
            _outcomes.Callbacks,
            loggers);

        foreach (var record in Records.Create(Count, topic: null))
        {
            Assert.That(await block.SendAsync(record, ct), Is.True);
        }

        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(Count, block.GetStatistics().Batches, Count, 0, 0, 0)));
            Assert.That(TopicReader.CountMessages(cluster.BootstrapServers, topic), Is.EqualTo(Count));
            Assert.That(loggers.Throws, Is.GreaterThan(0), "the logger was never hostile: the test proves nothing");
            Assert.That(Unobserved(), Is.Empty, "unobserved task exceptions");
        });
    }

    private static HostileLoggerFactory? LoggersFor(Hostile hostile) => hostile switch
    {
        Hostile.LoggerFactoryCreateLoggerThrows => new HostileLoggerFactory(LoggerHostility.CreateLoggerThrows),
        Hostile.LoggerAlwaysThrows => new HostileLoggerFactory(LoggerHostility.AlwaysThrows),
        Hostile.LoggerThrowsAtWarningAndAbove => new HostileLoggerFactory(LoggerHostility.ThrowsAtWarningAndAbove),
        Hostile.LoggerThrowsInItemFailedOnly => new HostileLoggerFactory(LoggerHostility.ThrowsInOneEvent, "ItemFailed"),
        _ => null,
    };

    private static bool Serializing(Hostile hostile) => hostile.ToString().Contains("Serializer", StringComparison.Ordinal);

    private BatchProducerBlock<KafkaRecord<string, string>> CreateBlock(Hostile hostile, HostileSerializer serializer, HostileLoggerFactory? loggers)
    {
        var options = new BatchProducerOptions { BatchSize = 5, Linger = Timeout.InfiniteTimeSpan, DrainTimeout = DrainTimeout, TimeProvider = _time };
        var sinkOptions = new KafkaSinkOptions<string, string> { DefaultTopic = "t" };
        if (Serializing(hostile))
        {
            bool key = hostile.ToString().Contains("Key", StringComparison.Ordinal);
            IAsyncSerializer<string> hostileOne = hostile.ToString().StartsWith("Sync", StringComparison.Ordinal) ? new SyncSerializerAdapter<string>(serializer) : serializer;
            var sink = new KafkaBatchSink<string, string>(_bytes.Producer, key ? hostileOne : Utf8.Instance, key ? Utf8.Instance : hostileOne, sinkOptions, logger: null, _time);
            return new BatchProducerBlock<KafkaRecord<string, string>>(sink, options, _outcomes.Callbacks);
        }

        string poison = $"v{Poison}";
        _stub.React = hostile switch
        {
            Hostile.ProduceThrowsKafkaError => (_, m) => m.Value == poison ? Reaction.Refuse(ProducerStub.ProduceError(ErrorCode.MsgSizeTooLarge, m)) : Reaction.Deliver,
            Hostile.ProduceThrowsNonKafkaError => (_, m) => m.Value == poison ? Reaction.Refuse(new InvalidOperationException("the client handle is broken")) : Reaction.Deliver,
            Hostile.ProduceReportsFatalError => (_, m) => m.Value == poison ? Reaction.Fail(new Error(ErrorCode.OutOfOrderSequenceNumber, "stub: fatal", isFatal: true)) : Reaction.Deliver,
            Hostile.DeliveryHandlerNeverFires => static (_, _) => Reaction.Hold,
            Hostile.NullRecord or Hostile.FlushBlocks => static (_, _) => Reaction.Deliver,

            // The logger cases: one delivery error, so the failure paths log too (at Warning).
            _ => (_, m) => m.Value == poison ? Reaction.Fail(ErrorCode.Local_MsgTimedOut) : Reaction.Deliver,
        };

        if (hostile == Hostile.FlushBlocks)
        {
            _stub.Producer.Flush(Arg.Any<TimeSpan>()).Returns(_ =>
            {
                _flushEntered.Release();
                _release.Wait();
                return 0;
            });
        }

        return KafkaProducerBlock.Create(_stub.Producer, sinkOptions, options, _outcomes.Callbacks, loggers);
    }

    // Waits, without moving time, until the pipeline is where the case leaves it hanging.
    private async Task StuckWhereTheCaseSaysAsync(Hostile hostile, HostileSerializer serializer, CancellationToken ct)
    {
        if (hostile is Hostile.AsyncKeySerializerNeverCompletes or Hostile.AsyncValueSerializerNeverCompletes or Hostile.SyncValueSerializerBlocksItsThread or Hostile.AsyncValueSerializerBlocksItsThread)
        {
            await serializer.PoisonSeen.WaitAsync(ct);
        }
        else if (hostile == Hostile.DeliveryHandlerNeverFires)
        {
            await _stub.WhenAttempts(Count).WaitAsync(ct);
        }
    }

    private async Task<Exception?> DriveToCompletionAsync(Hostile hostile, BatchProducerBlock<KafkaRecord<string, string>> block, CancellationToken ct)
    {
        switch (hostile)
        {
            case Hostile.AsyncKeySerializerNeverCompletes or Hostile.AsyncValueSerializerNeverCompletes or Hostile.DeliveryHandlerNeverFires:
                // Only the drain timeout can end these.
                _time.Advance(DrainTimeout);
                break;
            case Hostile.SyncValueSerializerBlocksItsThread or Hostile.AsyncValueSerializerBlocksItsThread:
                // The accept stage's thread is blocked inside the sink: the drain timeout aborts, the sink call gets
                // the settle time to return and is then given up on. Time moves only once the serializer blocks.
                _time.Advance(DrainTimeout);
                while (!block.Completion.IsCompleted)
                {
                    ct.ThrowIfCancellationRequested();
                    _time.Advance(TimeSpan.FromMilliseconds(100));
                    await Task.Yield();
                }

                break;
            case Hostile.FlushBlocks:
                // The drain's flush blocks: the drain timeout aborts, and the pipeline does not flush a second time
                // (the sink is flushed once per pipeline). Time moves only once the flush has been entered.
                await _flushEntered.WaitAsync(ct);
                _time.Advance(DrainTimeout);
                while (!block.Completion.IsCompleted)
                {
                    ct.ThrowIfCancellationRequested();
                    _time.Advance(TimeSpan.FromMilliseconds(100));
                    await Task.Yield();
                }

                Assert.That(_flushEntered.CurrentCount, Is.Zero, "the client was flushed once");
                break;
        }

        return await Records.ExceptionOf(block.Completion.WaitAsync(ct));
    }

    private List<Exception> Unobserved()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        lock (_unobserved)
        {
            return [.. _unobserved];
        }
    }

    private void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e)
    {
        lock (_unobserved)
        {
            _unobserved.Add(e.Exception);
        }
    }

    private sealed class Utf8 : IAsyncSerializer<string>
    {
        public static Utf8 Instance { get; } = new();

        public Task<byte[]> SerializeAsync(string data, SerializationContext context) => Task.FromResult(Encoding.UTF8.GetBytes(data));
    }

    /// <summary>UTF-8, except for record <see cref="Poison"/>'s key or value, for which it misbehaves as the case says.</summary>
    private sealed class HostileSerializer(Hostile hostile, ManualResetEventSlim release) : ISerializer<string>, IAsyncSerializer<string>
    {
        private readonly TaskCompletionSource _poisonSeen = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task PoisonSeen => _poisonSeen.Task;

        public byte[] Serialize(string data, SerializationContext context)
        {
            if (IsPoison(data) && !BlocksItsThread())
            {
                throw new FormatException($"cannot serialize '{data}'");
            }

            return Encoding.UTF8.GetBytes(data);
        }

        public Task<byte[]> SerializeAsync(string data, SerializationContext context)
        {
            if (!IsPoison(data))
            {
                return Task.FromResult(Encoding.UTF8.GetBytes(data));
            }

            if (BlocksItsThread())
            {
                return Task.FromResult(Encoding.UTF8.GetBytes(data));
            }

            _poisonSeen.TrySetResult();
            string name = hostile.ToString();
            return name switch
            {
                _ when name.EndsWith("ReturnsFaultedTask", StringComparison.Ordinal) => Task.FromException<byte[]>(new FormatException($"cannot serialize '{data}'")),
                _ when name.EndsWith("ReturnsCanceledTask", StringComparison.Ordinal) => Task.FromCanceled<byte[]>(new CancellationToken(canceled: true)),
                _ when name.EndsWith("NeverCompletes", StringComparison.Ordinal) => new TaskCompletionSource<byte[]>().Task,
                _ => throw new FormatException($"cannot serialize '{data}'"),
            };
        }

        private static bool IsPoison(string data) => data is "k7" or "v7";

        // For the blocking cases: blocks the caller's thread until the test ends, then serializes.
        private bool BlocksItsThread()
        {
            if (!hostile.ToString().EndsWith("BlocksItsThread", StringComparison.Ordinal))
            {
                return false;
            }

            _poisonSeen.TrySetResult();
            release.Wait();
            return true;
        }
    }
}
