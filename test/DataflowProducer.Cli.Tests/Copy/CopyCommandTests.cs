using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Tests.Shared;

namespace DataflowProducer.Cli.Tests.Copy;

/// <summary><c>copy</c> in-process against a mock cluster in this test process.</summary>
[Category(TestCategories.Integration)]
public class CopyCommandTests
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(60);

    [Test, CancelAfter(120_000)]
    public async Task Copy_SmallTopic_EveryRecordKeyOrderHeadersTimestampsAndSummaryCounts(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        (string from, string to) = CreateTopics(cluster);
        KeyedTopic.Produce(new ClientConfig { BootstrapServers = cluster.BootstrapServers }, from, 3000, 30, headersAndTimestamps: true);

        // acks is a producer setting: -X goes to both clients, and the consumer ignores it.
        CliRun run = await CliRun.RunAsync([.. Copy(cluster, from, to, $"g-{Guid.NewGuid():N}"), "-X", "acks=all"]).WaitAsync(ct);
        TestContext.Out.WriteLine(run.Error);
        TestContext.Out.WriteLine(run.Output);

        IReadOnlyList<ConsumeResult<byte[]?, byte[]?>> read = TopicReader.ReadAll(cluster.BootstrapServers, to, ReadTimeout);
        CopyCheck check = KeyedTopic.Check(read, 3000, 30);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Success), run.Error);
            Assert.That(run.Summary["accepted"], Is.EqualTo("3000"));
            Assert.That(run.Summary["delivered"], Is.EqualTo("3000"));
            Assert.That(run.Summary["failed"], Is.EqualTo("0"));
            Assert.That(run.Summary["abandoned"], Is.EqualTo("0"));
            Assert.That(check, Is.EqualTo(new CopyCheck(3000, 3000, 0, 0, check.Problems)).And.Property(nameof(CopyCheck.Problems)).Empty, check.ToString());
            Assert.That(run.Error, Does.Contain("read to the end of every partition"));
            Assert.That(run.Error, Does.Not.Contain("warning: acks="));

            // The header and the timestamp of each record came along: the header holds the record's index, which
            // is also its timestamp's offset from the base.
            Assert.That(read.Where(r => !HeaderMatchesTimestamp(r)).Select(r => r.TopicPartitionOffset), Is.Empty);
        });
    }

    [Test, CancelAfter(120_000)]
    public async Task Copy_Adaptive_EveryRecordCopiedInOrder(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        (string from, string to) = CreateTopics(cluster);
        KeyedTopic.Produce(new ClientConfig { BootstrapServers = cluster.BootstrapServers }, from, 1000, 10, headersAndTimestamps: false);

        CliRun run = await CliRun.RunAsync([.. Copy(cluster, from, to, $"g-{Guid.NewGuid():N}"), "--batch-size", "50", "--adaptive"]).WaitAsync(ct);

        CopyCheck check = KeyedTopic.Check(TopicReader.ReadAll(cluster.BootstrapServers, to, ReadTimeout), 1000, 10);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Success), run.Error);
            Assert.That(run.Summary["delivered"], Is.EqualTo("1000"));
            Assert.That(check, Is.EqualTo(new CopyCheck(1000, 1000, 0, 0, check.Problems)).And.Property(nameof(CopyCheck.Problems)).Empty, check.ToString());
        });
    }

    [TestCase("0"), TestCase("1")]
    [CancelAfter(120_000)]
    public async Task Copy_AcksWeakerThanAll_WarnsThatCommittedRecordsCanBeLost(string acks, CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        (string from, string to) = CreateTopics(cluster);
        KeyedTopic.Produce(new ClientConfig { BootstrapServers = cluster.BootstrapServers }, from, 100, 10, headersAndTimestamps: false);

        // Idempotence (on by default) refuses weaker acks outright; with it off, the client takes them and copy warns.
        CliRun run = await CliRun.RunAsync([.. Copy(cluster, from, to, $"g-{Guid.NewGuid():N}"), "-X", "enable.idempotence=false", "-X", $"acks={acks}"]).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Success), run.Error);
            Assert.That(run.Error, Does.Contain($"warning: acks={acks}: a record counts as delivered before every in-sync replica has it"));
        });
    }

    [Test, CancelAfter(120_000)]
    public async Task Copy_SecondRunWithTheSameGroup_CopiesNothingNewThenOnlyWhatWasAdded(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        (string from, string to) = CreateTopics(cluster);
        var client = new ClientConfig { BootstrapServers = cluster.BootstrapServers };
        string group = $"g-{Guid.NewGuid():N}";
        KeyedTopic.Produce(client, from, 500, 10, headersAndTimestamps: false);

        CliRun first = await CliRun.RunAsync(Copy(cluster, from, to, group)).WaitAsync(ct);
        CliRun again = await CliRun.RunAsync([.. Copy(cluster, from, to, group), "--json"]).WaitAsync(ct);
        long afterAgain = TopicReader.CountMessages(cluster.BootstrapServers, to);
        KeyedTopic.Produce(client, from, 200, 10, headersAndTimestamps: false, first: 500);
        CliRun third = await CliRun.RunAsync(Copy(cluster, from, to, group)).WaitAsync(ct);

        CopyCheck check = KeyedTopic.Check(TopicReader.ReadAll(cluster.BootstrapServers, to, ReadTimeout), 700, 10);
        using JsonDocument json = JsonDocument.Parse(again.Output);
        Assert.Multiple(() =>
        {
            Assert.That(first.ExitCode, Is.EqualTo(ExitCodes.Success), first.Error);
            Assert.That(first.Summary["delivered"], Is.EqualTo("500"));
            Assert.That(again.ExitCode, Is.EqualTo(ExitCodes.Success), again.Error);
            Assert.That(json.RootElement.GetProperty("accepted").GetInt64(), Is.Zero, again.Output);
            Assert.That(json.RootElement.GetProperty("delivered").GetInt64(), Is.Zero);
            Assert.That(afterAgain, Is.EqualTo(500));
            Assert.That(third.ExitCode, Is.EqualTo(ExitCodes.Success), third.Error);
            Assert.That(third.Summary["accepted"], Is.EqualTo("200"));
            Assert.That(third.Summary["delivered"], Is.EqualTo("200"));
            Assert.That((check.Total, check.Lost, check.Duplicates, check.Problems.Count), Is.EqualTo((700, 0, 0, 0)), check.ToString());
        });
    }

    [Test, CancelAfter(120_000)]
    public async Task Copy_FollowStoppedBySigint_Exit130NothingAbandonedAndTheNextRunCopiesTheRest(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        (string from, string to) = CreateTopics(cluster);
        var client = new ClientConfig { BootstrapServers = cluster.BootstrapServers };
        string group = $"g-{Guid.NewGuid():N}";
        KeyedTopic.Produce(client, from, 1000, 10, headersAndTimestamps: false);

        // --follow never ends by itself: the first Ctrl+C ends it once the first records are in the destination.
        using var shutdown = new ShutdownSignal();
        Task<CliRun> following = CliRun.RunAsync([.. Copy(cluster, from, to, group), "--follow"], shutdown: shutdown);
        while (!following.IsCompleted && TopicReader.CountMessages(cluster.BootstrapServers, to) == 0)
        {
            await Task.Delay(50, ct);
        }

        shutdown.Request(PosixSignal.SIGINT);
        CliRun followed = await following.WaitAsync(ct);
        long copied = TopicReader.CountMessages(cluster.BootstrapServers, to);
        KeyedTopic.Produce(client, from, 300, 10, headersAndTimestamps: false, first: 1000);
        CliRun rest = await CliRun.RunAsync(Copy(cluster, from, to, group)).WaitAsync(ct);

        CopyCheck check = KeyedTopic.Check(TopicReader.ReadAll(cluster.BootstrapServers, to, ReadTimeout), 1300, 10);
        Assert.Multiple(() =>
        {
            Assert.That(followed.ExitCode, Is.EqualTo(ExitCodes.InterruptedBySigint), followed.Error);
            Assert.That(followed.Summary["abandoned"], Is.EqualTo("0"));
            Assert.That(followed.Summary["delivered"], Is.EqualTo(followed.Summary["accepted"]));
            Assert.That(long.Parse(followed.Summary["delivered"], CultureInfo.InvariantCulture), Is.EqualTo(copied));
            Assert.That(rest.ExitCode, Is.EqualTo(ExitCodes.Success), rest.Error);
            Assert.That(long.Parse(rest.Summary["delivered"], CultureInfo.InvariantCulture), Is.EqualTo(1300 - copied), "a graceful stop commits everything delivered: the next run copies exactly the rest");
            Assert.That((check.Total, check.Lost, check.Duplicates, check.Problems.Count), Is.EqualTo((1300, 0, 0, 0)), check.ToString());
        });
    }

    [Test, CancelAfter(120_000)]
    public async Task Copy_AbortedBySecondSignal_AbandonedRecordsAreNotCommittedSoTheNextRunCopiesThem(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        (string from, string to) = CreateTopics(cluster);
        string group = $"g-{Guid.NewGuid():N}";
        KeyedTopic.Produce(new ClientConfig { BootstrapServers = cluster.BootstrapServers }, from, 20_000, 20, headersAndTimestamps: false);

        using var shutdown = new ShutdownSignal();
        Task<CliRun> copying = CliRun.RunAsync([.. Copy(cluster, from, to, group), "--batch-size", "100", "--max-in-flight", "1"], shutdown: shutdown);
        while (!copying.IsCompleted && TopicReader.CountMessages(cluster.BootstrapServers, to) == 0)
        {
            await Task.Delay(20, ct);
        }

        shutdown.Request(PosixSignal.SIGINT);
        shutdown.Request(PosixSignal.SIGINT);
        CliRun aborted = await copying.WaitAsync(ct);
        CliRun rest = await CliRun.RunAsync(Copy(cluster, from, to, group)).WaitAsync(ct);

        CopyCheck check = KeyedTopic.Check(TopicReader.ReadAll(cluster.BootstrapServers, to, ReadTimeout), 20_000, 20);
        TestContext.Out.WriteLine($"aborted run: exit {aborted.ExitCode}, {aborted.Output.Trim()}; next run: {rest.Output.Trim()}; destination: {check}");
        Dictionary<string, string> summary = aborted.Summary;
        Assert.Multiple(() =>
        {
            // The first signal may have finished the drain before the second came (then it aborts nothing: 130).
            Assert.That(aborted.ExitCode, Is.AnyOf(ExitCodes.Abandoned, ExitCodes.InterruptedBySigint), aborted.Error);
            Assert.That(long.Parse(summary["accepted"], CultureInfo.InvariantCulture), Is.EqualTo(new[] { "delivered", "failed", "abandoned" }.Sum(f => long.Parse(summary[f], CultureInfo.InvariantCulture))));
            Assert.That(rest.ExitCode, Is.EqualTo(ExitCodes.Success), rest.Error);
            Assert.That(check.Lost, Is.Zero, check.ToString());
            Assert.That(check.Problems, Is.Empty, check.ToString());
        });
    }

    [Test, CancelAfter(120_000)]
    public async Task Copy_Following_CommitsTheDeliveredOffsetsWhileItRuns(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        (string from, string to) = CreateTopics(cluster);
        string group = $"g-{Guid.NewGuid():N}";
        KeyedTopic.Produce(new ClientConfig { BootstrapServers = cluster.BootstrapServers }, from, 5000, 10, headersAndTimestamps: false);

        // What a kill leaves behind is the group's commit while the copy runs, not the one at its end.
        using var shutdown = new ShutdownSignal();
        Task<CliRun> following = CliRun.RunAsync([.. Copy(cluster, from, to, group), "--follow", "-X", "auto.commit.interval.ms=100"], shutdown: shutdown);
        var config = new ConsumerConfig { BootstrapServers = cluster.BootstrapServers, GroupId = group, EnableAutoCommit = false };
        using IConsumer<byte[], byte[]> reader = new ConsumerBuilder<byte[], byte[]>(config).SetLogHandler((_, _) => { }).Build();
        long committed = 0;
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!following.IsCompleted && committed < 5000 && waited.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(100, ct);
            committed = reader.Committed(Enumerable.Range(0, 4).Select(p => new TopicPartition(from, p)), TimeSpan.FromSeconds(10)).Sum(c => Math.Max(0, c.Offset.Value));
        }

        TestContext.Out.WriteLine($"committed {committed} after {waited.Elapsed.TotalSeconds:F1} s, destination {TopicReader.CountMessages(cluster.BootstrapServers, to)}");
        shutdown.Request(PosixSignal.SIGINT);
        CliRun followed = await following.WaitAsync(ct);
        Assert.Multiple(() =>
        {
            Assert.That(committed, Is.EqualTo(5000), "committed while running");
            Assert.That(followed.ExitCode, Is.EqualTo(ExitCodes.InterruptedBySigint), followed.Error);
        });
    }

    [Test, CancelAfter(120_000)]
    public async Task Copy_SourceTopicMissing_SaysSoAndCopiesNothing(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        string id = Guid.NewGuid().ToString("N");
        string to = $"copy-to-{id}";
        cluster.CreateTopic(to, 3);

        CliRun run = await CliRun.RunAsync(Copy(cluster, $"copy-missing-{id}", to, $"g-{id}")).WaitAsync(ct);
        TestContext.Out.WriteLine(run.Error);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.BadArguments), run.Error);
            Assert.That(run.Error, Does.Contain($"error: the source topic 'copy-missing-{id}' does not exist"));
            Assert.That(run.Summary["accepted"], Is.EqualTo("0"));
            Assert.That(TopicReader.CountMessages(cluster.BootstrapServers, to), Is.Zero);
        });
    }

    [TestCase("3", ExitCodes.Success, "Topic '{0}' exists with 3 partitions.")]
    [TestCase("5", ExitCodes.UnexpectedError, "error: --ensure-topic: Topic '{0}' has 3 partition(s), fewer than EnsureTopicOptions.Partitions (5).")]
    [CancelAfter(120_000)]
    public async Task Copy_EnsureTopic_TargetTopicVerifiedBeforeCopying(string ensure, int exitCode, string expected, CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        (string from, string to) = CreateTopics(cluster);
        KeyedTopic.Produce(new ClientConfig { BootstrapServers = cluster.BootstrapServers }, from, 50, 5, headersAndTimestamps: false);

        CliRun run = await CliRun.RunAsync([.. Copy(cluster, from, to, $"g-{Guid.NewGuid():N}"), "--ensure-topic", ensure]).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(exitCode), run.Error);
            Assert.That(run.Error, Does.Contain(string.Format(CultureInfo.InvariantCulture, expected, to)));
            Assert.That(run.Summary["delivered"], Is.EqualTo(exitCode == ExitCodes.Success ? "50" : "0"));
        });
    }

    private static (string From, string To) CreateTopics(MockKafkaCluster cluster)
    {
        string id = Guid.NewGuid().ToString("N");
        string from = $"copy-from-{id}";
        string to = $"copy-to-{id}";
        cluster.CreateTopic(from, 4);
        cluster.CreateTopic(to, 3);
        return (from, to);
    }

    // The mock cluster makes a member joining a group that had members wait for the group's session timeout (also
    // after the last member left cleanly), so the runs use a short one.
    private static string[] Copy(MockKafkaCluster cluster, string from, string to, string group) =>
        ["copy", "--from-topic", from, "--to-topic", to, "--group", group, "--bootstrap-servers", cluster.BootstrapServers, "--quiet", "--linger", "5", "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"];

    private static bool HeaderMatchesTimestamp(ConsumeResult<byte[]?, byte[]?> record)
    {
        IHeader? header = record.Message.Headers?.SingleOrDefault(h => h.Key == "n");
        if (header is null)
        {
            return false;
        }

        int index = int.Parse(Encoding.UTF8.GetString(header.GetValueBytes()), CultureInfo.InvariantCulture);
        return record.Message.Timestamp.Type == TimestampType.CreateTime
            && record.Message.Timestamp.UtcDateTime == KeyedTopic.TimestampBase.AddMilliseconds(index);
    }
}
