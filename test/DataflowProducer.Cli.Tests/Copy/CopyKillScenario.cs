using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;

namespace DataflowProducer.Cli.Tests.Copy;

/// <summary>The kill test of <c>copy</c>, for any cluster: a keyed source topic; the copy as a child process,
/// SIGKILLed at random moments (when the destination reaches a random count) and started again each time with the
/// same group; then a run to the end. Measures, after each kill, the destination's size and the group's committed
/// offsets: the duplicates a kill causes are the records past the committed offsets that were already copied.</summary>
internal sealed class CopyKillScenario
{
    // The copy's settings: small enough that "in flight" is a small number, and a short commit interval.
    public const int BatchSize = 200;
    public const int BoundedCapacity = 4000;
    public const int AutoCommitIntervalMs = 100;

    // What the pipeline may hold between consuming a record and committing its offset: the consumer source (one
    // batch), the pipeline (its bounded capacity, which covers what the Kafka client has), the outcomes source and
    // the committer (16 batch outcomes each, their defaults) and the batch each is working on.
    public const int Holdings = BatchSize + BoundedCapacity + ((16 + 16 + 2) * BatchSize);

    // Records delivered since the last commit are duplicated too: up to the commit interval's worth at the rate of
    // the moment, plus a commit's round trip and the polling step of this test; counted generously.
    private static readonly TimeSpan CommitLag = TimeSpan.FromMilliseconds(AutoCommitIntervalMs + 400);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);

    private readonly ClientConfig _client;
    private readonly string[] _clientArgs;
    private readonly string _from;
    private readonly string _to;
    private readonly string _group = $"copy-kill-{Guid.NewGuid():N}";
    private int? _destinationPartitions;

    public CopyKillScenario(ClientConfig client, IEnumerable<string> clientArgs, string from, string to)
    {
        _client = client;
        _clientArgs = [.. clientArgs];
        _from = from;
        _to = to;
    }

    /// <summary>The variable that replays a run's kill moments: set it to the seed the test printed.</summary>
    public const string SeedVariable = "COPY_KILL_SEED";

    public List<KillFigures> Kills { get; } = [];

    public string FinalRunOutput { get; private set; } = string.Empty;

    public int FinalExitCode { get; private set; } = -1;

    public int Records { get; private set; }

    /// <summary>The seed of the kill moments: <see cref="SeedVariable"/> when set, a new one otherwise.</summary>
    public static int Seed() =>
        int.TryParse(Environment.GetEnvironmentVariable(SeedVariable), NumberStyles.Integer, CultureInfo.InvariantCulture, out int seed) ? seed : Environment.TickCount;

    public async Task RunAsync(int records, int keys, int kills, int seed, bool headersAndTimestamps, CancellationToken ct)
    {
        Records = records;
        KeyedTopic.Produce(_client, _from, records, keys, headersAndTimestamps);
        int partitions = Partitions(_from);
        var random = new Random(seed);
        using IConsumer<byte[], byte[]> watermarks = WatermarkClient();
        long previousDuplicates = 0;
        int step = records / (kills + 1);
        for (int kill = 0; kill < kills; kill++)
        {
            // Each run is killed once it has added between half a step and a step to the destination (re-sent records
            // included): early or late in the run, before or after a commit.
            long target = DestinationCount(watermarks, partitions: null) + random.Next(step / 2, step + 1);
            var stderr = new StringBuilder();
            using Process process = StartCopy(stderr);
            (long atKill, double rate) = await WaitForAsync(watermarks, process, target, stderr, ct);
            process.Kill();
            await process.WaitForExitAsync(ct);

            long inDestination = DestinationCount(watermarks, partitions: null);
            long committed = CommittedSum(partitions);
            long duplicatesSoFar = inDestination - committed;
            long bound = Holdings + (long)Math.Ceiling(rate * CommitLag.TotalSeconds);
            Kills.Add(new KillFigures(kill + 1, target, atKill, inDestination, committed, duplicatesSoFar - previousDuplicates, bound, rate));
            previousDuplicates = duplicatesSoFar;
        }

        var finalError = new StringBuilder();
        using Process final = StartCopy(finalError);
        Task<string> output = final.StandardOutput.ReadToEndAsync(ct);
        await final.WaitForExitAsync(ct);
        FinalRunOutput = await output + Environment.NewLine + finalError;
        FinalExitCode = final.ExitCode;
    }

    private Process StartCopy(StringBuilder stderr)
    {
        string[] args =
        [
            "copy", "--from-topic", _from, "--to-topic", _to, "--group", _group, "--bootstrap-servers", _client.BootstrapServers,
            "--batch-size", BatchSize.ToString(CultureInfo.InvariantCulture), "--bounded-capacity", BoundedCapacity.ToString(CultureInfo.InvariantCulture),
            "--linger", "5", "--quiet",
            "-X", string.Create(CultureInfo.InvariantCulture, $"auto.commit.interval.ms={AutoCommitIntervalMs}"),
            "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
            .. _clientArgs,
        ];
        Process process = ToolProcess.Start(args);
        process.StandardInput.Close();
        process.ErrorDataReceived += (_, e) =>
        {
            lock (stderr)
            {
                stderr.AppendLine(e.Data);
            }
        };
        process.BeginErrorReadLine();
        return process;
    }

    // Polls the destination until it holds the target count; returns the count then and the rate over the last
    // half second (records per second).
    private async Task<(long Count, double Rate)> WaitForAsync(IConsumer<byte[], byte[]> watermarks, Process process, long target, StringBuilder stderr, CancellationToken ct)
    {
        var samples = new Queue<(TimeSpan At, long Count)>();
        var clock = Stopwatch.StartNew();
        while (true)
        {
            long count = DestinationCount(watermarks, partitions: null);
            samples.Enqueue((clock.Elapsed, count));
            while (samples.Count > 2 && clock.Elapsed - samples.Peek().At > TimeSpan.FromMilliseconds(500))
            {
                samples.Dequeue();
            }

            if (count >= target)
            {
                (TimeSpan at, long first) = samples.Peek();
                double seconds = (clock.Elapsed - at).TotalSeconds;
                return (count, seconds > 0 ? (count - first) / seconds : 0);
            }

            if (process.HasExited)
            {
                string error;
                lock (stderr)
                {
                    error = stderr.ToString();
                }

                Assert.Fail($"the copy exited ({process.ExitCode}) before the destination held {target} records (it holds {count}): {error}");
            }

            await Task.Delay(PollInterval, ct);
        }
    }

    // One client for every watermark query of the run: a query is then one round trip, so the polling keeps up with
    // the copy (a new client per query took long enough on the 0.9 broker for a whole run to pass between two polls).
    private IConsumer<byte[], byte[]> WatermarkClient()
    {
        var config = new ConsumerConfig(_client.ToDictionary(p => p.Key, p => p.Value)) { GroupId = $"watermarks-{Guid.NewGuid():N}", EnableAutoCommit = false };
        return new ConsumerBuilder<byte[], byte[]>(config).SetLogHandler((_, _) => { }).Build();
    }

    private long DestinationCount(IConsumer<byte[], byte[]> watermarks, int? partitions)
    {
        _destinationPartitions ??= Partitions(_to);
        return Enumerable.Range(0, partitions ?? _destinationPartitions.Value)
            .Sum(p => watermarks.QueryWatermarkOffsets(new TopicPartition(_to, p), TimeSpan.FromSeconds(30)).High.Value);
    }

    private int Partitions(string topic)
    {
        var config = new AdminClientConfig(_client.ToDictionary(p => p.Key, p => p.Value));
        using IAdminClient admin = new AdminClientBuilder(config).SetLogHandler((_, _) => { }).Build();
        return admin.GetMetadata(topic, TimeSpan.FromSeconds(30)).Topics.Single().Partitions.Count;
    }

    // The group's committed offsets (what a restart resumes from), read without joining the group.
    private long CommittedSum(int partitions)
    {
        var config = new ConsumerConfig(_client.ToDictionary(p => p.Key, p => p.Value)) { GroupId = _group, EnableAutoCommit = false };
        using IConsumer<byte[], byte[]> consumer = new ConsumerBuilder<byte[], byte[]>(config).SetLogHandler((_, _) => { }).Build();
        List<TopicPartitionOffset> committed = consumer.Committed(Enumerable.Range(0, partitions).Select(p => new TopicPartition(_from, p)), TimeSpan.FromSeconds(30));
        return committed.Sum(c => c.Offset.Value >= 0 ? c.Offset.Value : 0);
    }
}

/// <summary>One kill of <see cref="CopyKillScenario"/>.</summary>
/// <param name="Kill">Its number, from 1.</param>
/// <param name="Target">The destination count it waited for.</param>
/// <param name="AtKill">The destination count seen just before the SIGKILL.</param>
/// <param name="InDestination">The destination count after the process died.</param>
/// <param name="Committed">The sum of the group's committed offsets after the process died.</param>
/// <param name="Duplicates">Records this kill makes the next run copy again (already in the destination, past the
/// committed offsets).</param>
/// <param name="Bound">What was in flight at most: the pipeline's holdings plus the commit lag at the measured rate.</param>
/// <param name="Rate">The copy's rate just before the kill, records per second.</param>
internal sealed record KillFigures(int Kill, long Target, long AtKill, long InDestination, long Committed, long Duplicates, long Bound, double Rate)
{
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"kill {Kill}: target {Target}, destination {AtKill} at the kill and {InDestination} after, committed {Committed}, duplicates {Duplicates} (bound {Bound} = holdings {CopyKillScenario.Holdings} + commit lag at {Rate:F0} records/s)");
}
