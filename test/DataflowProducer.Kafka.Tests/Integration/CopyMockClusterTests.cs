using System.Diagnostics;
using System.Globalization;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Kafka.Tests.TestSupport;
using DataflowProducer.Tests.Shared;

namespace DataflowProducer.Kafka.Tests.Integration;

/// <summary>Consume → transform → produce with acknowledge-after-delivery, on the mock cluster: a copy of topic A to
/// topic B in a consumer group, stopped abruptly at random moments and started again, ends with every record of A in B,
/// per-key order kept apart from re-sent duplicates, and no more duplicates than were in flight at the stops.</summary>
[Category(TestCategories.Integration)]
public class CopyMockClusterTests() : MockClusterFixture("copy-a")
{
    private const int Records = 50_000;
    private const int Keys = 97;
    private const int Stops = 3;
    private static readonly TimeSpan RunBound = TimeSpan.FromSeconds(120);

    private string _target = null!;

    [SetUp]
    public void CreateTarget()
    {
        _target = $"copy-b-{Guid.NewGuid():N}";
        Cluster.CreateTopic(_target, partitions: 4);
    }

    [Test, CancelAfter(600_000)]
    public async Task Copy_StoppedAbruptlyThreeTimesAndRestarted_EveryRecordInTheTargetOrderPerKeyDuplicatesAtMostInFlight(CancellationToken ct)
    {
        await SeedAsync(ct);
        string group = $"copy-{Guid.NewGuid():N}";
        int seed = Environment.TickCount;
        var random = new Random(seed);
        var stops = new List<(int Delivered, int PendingAtClose)>();

        for (int stop = 0; stop < Stops; stop++)
        {
            // Somewhere in the next 2,000 to 12,000 deliveries of this run.
            int target = random.Next(2_000, 12_000);
            await using CopyRun run = StartRun(group, completeAtEnd: false);
            await run.WaitUntilDeliveredAsync(target, ct);
            (int delivered, int pending) = await run.StopAbruptlyAsync();
            stops.Add((delivered, pending));
        }

        await using CopyRun last = StartRun(group, completeAtEnd: true);
        await last.FinishAsync(ct);

        var read = TopicReader.ReadAll(Cluster.BootstrapServers, _target, Deserializers.Utf8, Deserializers.Utf8, TimeSpan.FromSeconds(180));
        int duplicates = read.Count - Records;
        int inFlightAtStops = stops.Sum(s => s.PendingAtClose);
        await TestContext.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"seed {seed}: {Records} records, {Stops} stops (delivered before each stop: {string.Join(", ", stops.Select(s => s.Delivered))}; in flight at each: {string.Join(", ", stops.Select(s => s.PendingAtClose))}); read back {read.Count}: {duplicates} duplicates, lost {Records - read.Select(r => r.Message.Value).Distinct().Count()}"));

        AssertCopy(read);
        Assert.That(duplicates, Is.LessThanOrEqualTo(inFlightAtStops), "more duplicates than records in flight at the stops");
    }

    [Test, CancelAfter(600_000)]
    public async Task Copy_SecondMemberJoinsMidway_RevocationCommitsWhatIsSafeAndTheTwoTogetherCopyEverything(CancellationToken ct)
    {
        await SeedAsync(ct);
        string group = $"copy-{Guid.NewGuid():N}";

        // Neither completes at the end of its partitions: a member that stops polling would hold up the group's
        // rebalance. The job is done when the two members' stored offsets cover the whole topic.
        await using CopyRun first = StartRun(group, completeAtEnd: false, slow: true);
        await first.WaitUntilDeliveredAsync(2_000, ct);
        await using CopyRun second = StartRun(group, completeAtEnd: false, slow: true);

        var stopwatch = Stopwatch.StartNew();
        int firstAfterRebalance = 4;
        while (true)
        {
            Assert.That(stopwatch.Elapsed, Is.LessThan(RunBound), "the two members did not finish the copy");
            if (second.Assignment.Count > 0)
            {
                firstAfterRebalance = Math.Min(firstAfterRebalance, first.Assignment.Count);
            }

            var stored = first.StoredOffsets.Concat(second.StoredOffsets).GroupBy(o => o.Partition.Value).Select(g => g.Max(o => o.Offset.Value)).ToList();
            if (stored.Count == 4 && stored.Sum() == Records)
            {
                break;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), ct);
        }

        await Task.WhenAll(first.StopAsync(ct), second.StopAsync(ct));

        var read = TopicReader.ReadAll(Cluster.BootstrapServers, _target, Deserializers.Utf8, Deserializers.Utf8, TimeSpan.FromSeconds(180));
        await TestContext.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{Records} records, two members (after the rebalance the first kept {firstAfterRebalance} of 4 partitions): read back {read.Count}, {read.Count - Records} duplicates"));
        Assert.That(firstAfterRebalance, Is.LessThan(4), "the first member gave partitions up");
        AssertCopy(read);
    }

    // Values are "key:n", n counting from 0 per key in the order they were written to A.
    private static void AssertCopy(IReadOnlyList<ConsumeResult<string, string>> read)
    {
        var perKey = new Dictionary<string, List<int>>();
        foreach (ConsumeResult<string, string> r in read.OrderBy(r => r.Partition.Value).ThenBy(r => r.Offset.Value))
        {
            int n = int.Parse(r.Message.Value.AsSpan(r.Message.Value.IndexOf(':', StringComparison.Ordinal) + 1), NumberStyles.None, CultureInfo.InvariantCulture);
            if (!perKey.TryGetValue(r.Message.Key, out List<int>? list))
            {
                perKey[r.Message.Key] = list = [];
            }

            list.Add(n);
        }

        var problems = new List<string>();
        int total = 0;
        foreach ((string key, List<int> sequence) in perKey)
        {
            // Dropping what was seen before (a re-sent duplicate) must leave 0, 1, 2, … in order.
            var seen = new HashSet<int>();
            int expected = 0;
            foreach (int n in sequence)
            {
                if (!seen.Add(n))
                {
                    continue;
                }

                if (n != expected)
                {
                    problems.Add($"{key}: {n} where {expected} was due");
                    break;
                }

                expected++;
            }

            total += seen.Count;
        }

        Assert.Multiple(() =>
        {
            Assert.That(problems.Take(5), Is.Empty, "per-key order (first 5 problems)");
            Assert.That(total, Is.EqualTo(Records), "distinct records in the target: every record of the source, once at least");
            Assert.That(perKey, Has.Count.EqualTo(Keys));
        });
    }

    private async Task SeedAsync(CancellationToken ct)
    {
        var block = KafkaProducerBlock.Create(
            new ProducerConfig { BootstrapServers = Cluster.BootstrapServers, LingerMs = 5 },
            new KafkaSinkOptions<string, string> { DefaultTopic = Topic },
            new BatchProducerOptions { BatchSize = 1000 });
        var perKey = new int[Keys];
        for (int i = 0; i < Records; i++)
        {
            int key = i % Keys;
            Assert.That(await block.SendAsync(new KafkaRecord<string, string>($"k{key}", $"k{key}:{perKey[key]++}"), ct), Is.True);
        }

        block.Complete();
        await block.Completion.WaitAsync(ct);
    }

    private CopyRun StartRun(string group, bool completeAtEnd, bool slow = false) => new(Cluster.BootstrapServers, Topic, _target, group, completeAtEnd, slow);

    // One run of the copy job, as the CLI's copy would build it.
    private sealed class CopyRun : IAsyncDisposable
    {
        private readonly KafkaConsumerSource<string, string> _source;
        private readonly TransformBlock<ConsumeResult<string, string>, KafkaRecord<string, string>> _transform;
        private readonly BatchProducerBlock<KafkaRecord<string, string>> _producer;
        private readonly KafkaOffsetCommitter<KafkaRecord<string, string>> _committer;

        // slow: one small batch in flight at a time (about 50 records per round trip), so a copy lasts long enough for
        // a second member to join while the first is still at work.
        public CopyRun(string bootstrapServers, string from, string to, string group, bool completeAtEnd, bool slow)
        {
            _source = new KafkaConsumerSource<string, string>(
                // Stored offsets are auto-committed every 200 ms: the mock cluster refuses the commit a revocation makes during
                // an eager rebalance (RebalanceInProgress), so after a rebalance the group resumes from the last auto-commit.
                // A small prefetch (queued.min.messages) lets the rebalance, queued behind prefetched records, be served
                // soon: with librdkafka's 100,000 the second member waited for most of the copy, and every auto-commit
                // meanwhile failed (22,701 duplicates of 50,000 in one run, against 5,355 with 1,000).
                new ConsumerConfig { BootstrapServers = bootstrapServers, GroupId = group, AutoOffsetReset = AutoOffsetReset.Earliest, SessionTimeoutMs = 10_000, AutoCommitIntervalMs = 200, QueuedMinMessages = 1000 },
                [from],
                new KafkaConsumerSourceOptions<string, string> { BoundedCapacity = 500, CompleteAtEndOfPartitions = completeAtEnd });
            _transform = new TransformBlock<ConsumeResult<string, string>, KafkaRecord<string, string>>(
                static r => new KafkaRecord<string, string>(r.Message.Key, r.Message.Value) { Correlation = r },
                new ExecutionDataflowBlockOptions { BoundedCapacity = 500 });
            _producer = KafkaProducerBlock.Create(
                new ProducerConfig { BootstrapServers = bootstrapServers, LingerMs = 5 },
                new KafkaSinkOptions<string, string> { DefaultTopic = to },
                slow
                    ? new BatchProducerOptions { BatchSize = 50, BoundedCapacity = 500, MaxInFlightBatches = 1, Linger = TimeSpan.FromMilliseconds(10), EmitOutcomes = true, OutcomeBoundedCapacity = 4 }
                    : new BatchProducerOptions { BatchSize = 250, BoundedCapacity = 2_000, Linger = TimeSpan.FromMilliseconds(10), EmitOutcomes = true, OutcomeBoundedCapacity = 4 });
            _committer = _source.CreateCommitter<string, string>(new KafkaOffsetCommitterOptions<KafkaRecord<string, string>> { BoundedCapacity = 4 });

            var propagate = new DataflowLinkOptions { PropagateCompletion = true };
            _source.LinkTo(_transform, propagate);
            _transform.LinkTo(_producer, propagate);
            _producer.Outcomes.LinkTo(_committer, propagate);
        }

        public IReadOnlyCollection<TopicPartition> Assignment => _source.Assignment;

        public IReadOnlyList<TopicPartitionOffset> StoredOffsets => _committer.GetStoredOffsets();

        // A graceful stop: consuming ends, what is in the pipeline drains, then the safe offsets are committed.
        public async Task StopAsync(CancellationToken ct)
        {
            _source.Complete();
            await _committer.Completion.WaitAsync(RunBound, ct);
            await _source.DisposeAsync();
        }

        public async Task WaitUntilDeliveredAsync(int delivered, CancellationToken ct)
        {
            var stopwatch = Stopwatch.StartNew();
            while (_producer.GetStatistics().Delivered < delivered)
            {
                Assert.That(stopwatch.Elapsed, Is.LessThan(RunBound), $"{delivered} deliveries did not happen within {RunBound}; the run delivered {_producer.GetStatistics().Delivered}");
                Assert.That(_producer.Completion.IsCompleted, Is.False, "the run ended before its stop");
                await Task.Delay(TimeSpan.FromMilliseconds(10), ct);
            }
        }

        // A crash, in process: the consumer is closed at once (committing only what is safe at this moment) and the
        // producer aborted; nothing waits for what is in flight.
        public async Task<(int Delivered, int PendingAtClose)> StopAbruptlyAsync()
        {
            ((IDataflowBlock)_producer).Fault(new InvalidOperationException("stopped by the test"));
            await _source.DisposeAsync();
            await Quietly(_producer.Completion);
            await Quietly(_committer.Completion);
            return ((int)_producer.GetStatistics().Delivered, _source.PendingAtClose);
        }

        public async Task FinishAsync(CancellationToken ct)
        {
            await _committer.Completion.WaitAsync(RunBound, ct);
            await _source.DisposeAsync();
            Assert.That(_producer.GetStatistics().Failed + _producer.GetStatistics().Abandoned, Is.Zero);
        }

        public ValueTask DisposeAsync() => _source.DisposeAsync();

        private static async Task Quietly(Task task)
        {
            try
            {
                await task.WaitAsync(RunBound);
            }
            catch (Exception ex) when (ex is not TimeoutException)
            {
                // Aborted on purpose.
            }
        }
    }
}
