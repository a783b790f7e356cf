using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using NSubstitute;
using NSubstitute.ExceptionExtensions;

namespace DataflowProducer.Kafka.Tests;

/// <summary>Every path of ensuring a topic, over a substituted <see cref="IAdminClient"/>: created, matched, more and
/// fewer partitions, config differences verified or altered, refusals with the broker's error code, and the timeout
/// (on a <see cref="FakeTimeProvider"/>, never sleeping).</summary>
public class KafkaTopicsTests
{
    private const string Topic = "orders";

    private IAdminClient _admin = null!;
    private FakeTimeProvider _time = null!;
    private FakeLogCollector _logs = null!;

    [SetUp]
    public void SetUp()
    {
        _admin = Substitute.For<IAdminClient>();
        _time = new FakeTimeProvider();
        _logs = new FakeLogCollector();
    }

    [TearDown]
    public void TearDown() => _admin.Dispose();

    private EnsureTopicOptions Options(int partitions = 3, int? replicationFactor = null, TopicExistsBehavior whenExists = TopicExistsBehavior.Verify, params (string Key, string Value)[] configs)
    {
        var options = new EnsureTopicOptions { Topic = Topic, Partitions = partitions, ReplicationFactor = replicationFactor, WhenExists = whenExists, TimeProvider = _time };
        foreach ((string key, string value) in configs)
        {
            options.Configs[key] = value;
        }

        return options;
    }

    private Task<EnsureTopicResult> EnsureAsync(EnsureTopicOptions options, CancellationToken ct) =>
        KafkaTopics.EnsureAsync(_admin, options, new FakeLogger(_logs), ct);

    private void TopicMissing() => _admin.GetMetadata(Topic, Arg.Any<TimeSpan>()).Returns(MetadataOf(new TopicMetadata(Topic, [], new Error(ErrorCode.UnknownTopicOrPart))));

    private void TopicWith(int partitions, int replicas = 1) => _admin.GetMetadata(Topic, Arg.Any<TimeSpan>()).Returns(MetadataOf(new TopicMetadata(
        Topic,
        [.. Enumerable.Range(0, partitions).Select(p => new PartitionMetadata(p, 1, [.. Enumerable.Range(1, replicas)], [.. Enumerable.Range(1, replicas)], new Error(ErrorCode.NoError)))],
        new Error(ErrorCode.NoError))));

    private void ConfigsAre(params (string Key, string Value)[] configs) =>
        _admin.DescribeConfigsAsync(Arg.Any<IEnumerable<ConfigResource>>(), Arg.Any<DescribeConfigsOptions>()).Returns(
        [
            new DescribeConfigsResult
            {
                ConfigResource = new ConfigResource { Type = ResourceType.Topic, Name = Topic },
                Entries = configs.ToDictionary(c => c.Key, c => new ConfigEntryResult { Name = c.Key, Value = c.Value }),
            },
        ]);

    private static Metadata MetadataOf(TopicMetadata topic) => new([new BrokerMetadata(1, "127.0.0.1", 9092)], [topic], 1, "broker-1");

    private int[] LoggedIds() => [.. _logs.GetSnapshot().Select(r => r.Id.Id)];

    [Test, CancelAfter(10_000)]
    public async Task EnsureAsync_TopicMissing_CreatesItAsSpecified(CancellationToken ct)
    {
        TopicMissing();
        List<TopicSpecification>? asked = null;
        _admin.CreateTopicsAsync(Arg.Do<IEnumerable<TopicSpecification>>(s => asked = [.. s]), Arg.Any<CreateTopicsOptions>()).Returns(Task.CompletedTask);

        EnsureTopicResult result = await EnsureAsync(Options(partitions: 6, replicationFactor: 3, configs: ("retention.ms", "86400000")), ct);

        Assert.Multiple(() =>
        {
            Assert.That(result.Outcome, Is.EqualTo(EnsureTopicOutcome.Created));
            Assert.That(result.Partitions, Is.EqualTo(6));
            Assert.That(asked, Has.Count.EqualTo(1));
            Assert.That(asked![0].Name, Is.EqualTo(Topic));
            Assert.That(asked[0].NumPartitions, Is.EqualTo(6));
            Assert.That(asked[0].ReplicationFactor, Is.EqualTo(3));
            Assert.That(asked[0].Configs, Is.EquivalentTo(new Dictionary<string, string> { ["retention.ms"] = "86400000" }));
            Assert.That(LoggedIds(), Is.EqualTo(new[] { 2201 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task EnsureAsync_TopicMissingWithoutReplicationFactor_AsksForTheBrokerDefault(CancellationToken ct)
    {
        TopicMissing();
        List<TopicSpecification>? asked = null;
        _admin.CreateTopicsAsync(Arg.Do<IEnumerable<TopicSpecification>>(s => asked = [.. s]), Arg.Any<CreateTopicsOptions>()).Returns(Task.CompletedTask);

        await EnsureAsync(Options(), ct);

        Assert.Multiple(() =>
        {
            Assert.That(asked![0].ReplicationFactor, Is.EqualTo(-1));
            Assert.That(asked[0].Configs, Is.Null);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task EnsureAsync_TopicExistsAsSpecified_MatchedWithoutAdminRequests(CancellationToken ct)
    {
        TopicWith(partitions: 3, replicas: 2);

        EnsureTopicResult result = await EnsureAsync(Options(partitions: 3, replicationFactor: 2), ct);

        Assert.Multiple(() =>
        {
            Assert.That(result.Outcome, Is.EqualTo(EnsureTopicOutcome.Matched));
            Assert.That(result.Differences, Is.Empty);
            Assert.That(LoggedIds(), Is.EqualTo(new[] { 2202 }));
        });
        await _admin.DidNotReceiveWithAnyArgs().CreateTopicsAsync(default!, default);
        await _admin.DidNotReceiveWithAnyArgs().DescribeConfigsAsync(default!, default);
    }

    [Test, CancelAfter(10_000)]
    public async Task EnsureAsync_TopicHasMorePartitions_DiffersAndLogsNoError(CancellationToken ct)
    {
        TopicWith(partitions: 8);

        EnsureTopicResult result = await EnsureAsync(Options(partitions: 3), ct);

        Assert.Multiple(() =>
        {
            Assert.That(result.Outcome, Is.EqualTo(EnsureTopicOutcome.Differs));
            Assert.That(result.Partitions, Is.EqualTo(8));
            Assert.That(result.Differences, Is.EqualTo(new[] { "8 partitions, more than the asked 3" }));
            Assert.That(LoggedIds(), Is.EqualTo(new[] { 2204 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task EnsureAsync_ReplicationFactorDiffers_ReportedNotChanged(CancellationToken ct)
    {
        TopicWith(partitions: 3, replicas: 1);

        EnsureTopicResult result = await EnsureAsync(Options(partitions: 3, replicationFactor: 3), ct);

        Assert.That(result.Differences, Is.EqualTo(new[] { "replication factor 1, not the asked 3" }));
    }

    [Test, CancelAfter(10_000)]
    public async Task EnsureAsync_OnePartitionReassignedToFewerReplicas_ReportedThoughTheFirstMatches(CancellationToken ct)
    {
        // Partition 0 has the asked 3 replicas; partition 2 was reassigned to 2.
        _admin.GetMetadata(Topic, Arg.Any<TimeSpan>()).Returns(MetadataOf(new TopicMetadata(
            Topic,
            [.. Enumerable.Range(0, 3).Select(p => new PartitionMetadata(p, 1, p == 2 ? [1, 2] : [1, 2, 3], p == 2 ? [1, 2] : [1, 2, 3], new Error(ErrorCode.NoError)))],
            new Error(ErrorCode.NoError))));

        EnsureTopicResult result = await EnsureAsync(Options(partitions: 3, replicationFactor: 3), ct);

        Assert.Multiple(() =>
        {
            Assert.That(result.Outcome, Is.EqualTo(EnsureTopicOutcome.Differs));
            Assert.That(result.Differences, Is.EqualTo(new[] { "replication factor 2 / 3 (partitions differ), not the asked 3" }));
        });
    }

    [Test, CancelAfter(10_000)]
    public void EnsureAsync_TopicHasFewerPartitions_ThrowsNamingBothCountsAndTheWayOut(CancellationToken ct)
    {
        TopicWith(partitions: 2);

        var error = Assert.ThrowsAsync<KafkaTopicException>(() => EnsureAsync(Options(partitions: 6), ct));

        Assert.Multiple(() =>
        {
            Assert.That(error!.Message, Is.EqualTo("Topic 'orders' has 2 partition(s), fewer than EnsureTopicOptions.Partitions (6). Set AllowPartitionGrowth to add partitions (records of a key then change partition), or ask for 2."));
            Assert.That(error.Topic, Is.EqualTo(Topic));
            Assert.That(error.ErrorCode, Is.Null);
            Assert.That(LoggedIds(), Is.EqualTo(new[] { 2205 }));
        });
        _admin.DidNotReceiveWithAnyArgs().CreatePartitionsAsync(default!, default);
    }

    [Test, CancelAfter(10_000)]
    public async Task EnsureAsync_FewerPartitionsWithGrowthAllowed_AddsPartitions(CancellationToken ct)
    {
        TopicWith(partitions: 2);
        List<PartitionsSpecification>? asked = null;
        _admin.CreatePartitionsAsync(Arg.Do<IEnumerable<PartitionsSpecification>>(s => asked = [.. s]), Arg.Any<CreatePartitionsOptions>()).Returns(Task.CompletedTask);
        EnsureTopicOptions options = Options(partitions: 6);
        options.AllowPartitionGrowth = true;

        EnsureTopicResult result = await EnsureAsync(options, ct);

        Assert.Multiple(() =>
        {
            Assert.That(result.Outcome, Is.EqualTo(EnsureTopicOutcome.Altered));
            Assert.That(result.Partitions, Is.EqualTo(6));
            Assert.That(result.Changes, Is.EqualTo(new[] { "partitions 2 -> 6" }));
            Assert.That(asked!.Single().Topic, Is.EqualTo(Topic));
            Assert.That(asked!.Single().IncreaseTo, Is.EqualTo(6));
            Assert.That(LoggedIds(), Is.EqualTo(new[] { 2203 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task EnsureAsync_ConfigDiffersInVerifyMode_DiffersAndAltersNothing(CancellationToken ct)
    {
        TopicWith(partitions: 3);
        ConfigsAre(("retention.ms", "604800000"), ("cleanup.policy", "delete"));

        EnsureTopicResult result = await EnsureAsync(Options(configs: [("retention.ms", "86400000"), ("cleanup.policy", "delete")]), ct);

        Assert.Multiple(() =>
        {
            Assert.That(result.Outcome, Is.EqualTo(EnsureTopicOutcome.Differs));
            Assert.That(result.Differences, Is.EqualTo(new[] { "retention.ms is 604800000, not the asked 86400000" }));
            Assert.That(LoggedIds(), Is.EqualTo(new[] { 2204 }));
        });
        await _admin.DidNotReceiveWithAnyArgs().IncrementalAlterConfigsAsync(default!, default);
        await _admin.DidNotReceiveWithAnyArgs().AlterConfigsAsync(default!, default);
    }

    [Test, CancelAfter(10_000)]
    public async Task EnsureAsync_ConfigsMatch_Matched(CancellationToken ct)
    {
        TopicWith(partitions: 3);
        ConfigsAre(("retention.ms", "86400000"));

        EnsureTopicResult result = await EnsureAsync(Options(configs: ("retention.ms", "86400000")), ct);

        Assert.That(result.Outcome, Is.EqualTo(EnsureTopicOutcome.Matched));
    }

    [Test, CancelAfter(10_000)]
    public async Task EnsureAsync_ConfigDiffersInAlterMode_SetsOnlyTheDifferingConfigs(CancellationToken ct)
    {
        TopicWith(partitions: 3);
        ConfigsAre(("retention.ms", "604800000"), ("cleanup.policy", "delete"));
        Dictionary<ConfigResource, List<ConfigEntry>>? asked = null;
        _admin.IncrementalAlterConfigsAsync(Arg.Do<Dictionary<ConfigResource, List<ConfigEntry>>>(a => asked = a), Arg.Any<IncrementalAlterConfigsOptions>()).Returns(new List<IncrementalAlterConfigsResult>());

        EnsureTopicResult result = await EnsureAsync(Options(whenExists: TopicExistsBehavior.AlterConfigs, configs: [("retention.ms", "86400000"), ("cleanup.policy", "delete")]), ct);

        Assert.Multiple(() =>
        {
            Assert.That(result.Outcome, Is.EqualTo(EnsureTopicOutcome.Altered));
            Assert.That(result.Changes, Is.EqualTo(new[] { "retention.ms set to 86400000" }));
            Assert.That(asked!.Keys.Single().Name, Is.EqualTo(Topic));
            Assert.That(asked!.Keys.Single().Type, Is.EqualTo(ResourceType.Topic));
            Assert.That(asked!.Values.Single().Select(e => (e.Name, e.Value, e.IncrementalOperation)), Is.EqualTo(new[] { ("retention.ms", "86400000", AlterConfigOpType.Set) }));
            Assert.That(LoggedIds(), Is.EqualTo(new[] { 2203 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public void EnsureAsync_BrokerTimesOutCreating_SaysItMayStillCompleteNotThatTheRequestIsUnsupported(CancellationToken ct)
    {
        TopicMissing();
        _admin.CreateTopicsAsync(Arg.Any<IEnumerable<TopicSpecification>>(), Arg.Any<CreateTopicsOptions>()).ThrowsAsync(new CreateTopicsException(
            [new CreateTopicReport { Topic = Topic, Error = new Error(ErrorCode.RequestTimedOut, "Timed out waiting for topic creation.") }]));

        var error = Assert.ThrowsAsync<KafkaTopicException>(() => EnsureAsync(Options(partitions: 6), ct));

        Assert.That(error!.Message, Is.EqualTo("Kafka refused to create topic 'orders' (Partitions 6, ReplicationFactor broker default): RequestTimedOut (7): Timed out waiting for topic creation. The broker accepted CreateTopics but did not finish it within the time left; it may still complete (a longer EnsureTopicOptions.Timeout gives it more)."));
    }

    [Test, CancelAfter(10_000)]
    public async Task EnsureOwned_CanceledWhileMetadataBlocks_ClientDisposedOnlyAfterTheCallReturns(CancellationToken ct)
    {
        using var release = new ManualResetEventSlim();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var disposed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _admin.GetMetadata(Topic, Arg.Any<TimeSpan>()).Returns(_ =>
        {
            // The native client blocks this thread until its own timeout.
            entered.TrySetResult();
            release.Wait(ct);
            return MetadataOf(new TopicMetadata(Topic, [], new Error(ErrorCode.UnknownTopicOrPart)));
        });
        _admin.When(a => a.Dispose()).Do(_ => disposed.TrySetResult());
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(ct);

        Task<EnsureTopicResult> ensuring = KafkaTopics.EnsureOwnedAsync(_admin, Options(), logger: null, cancellation.Token);
        await entered.Task.WaitAsync(ct);
        await cancellation.CancelAsync();
        Assert.That(async () => await ensuring, Throws.InstanceOf<OperationCanceledException>());
        bool disposedUnderTheCall = disposed.Task.IsCompleted;
        release.Set();
        await disposed.Task.WaitAsync(ct);

        Assert.That(disposedUnderTheCall, Is.False, "the client is not disposed while its call still runs");
    }

    [Test, CancelAfter(10_000)]
    public void EnsureAsync_BrokerRefusesCreate_ThrowsWithTopicSettingAndBrokerError(CancellationToken ct)
    {
        TopicMissing();
        _admin.CreateTopicsAsync(Arg.Any<IEnumerable<TopicSpecification>>(), Arg.Any<CreateTopicsOptions>()).ThrowsAsync(new CreateTopicsException(
            [new CreateTopicReport { Topic = Topic, Error = new Error(ErrorCode.InvalidReplicationFactor, "Replication factor: 3 larger than available brokers: 1.") }]));

        var error = Assert.ThrowsAsync<KafkaTopicException>(() => EnsureAsync(Options(partitions: 6, replicationFactor: 3), ct));

        Assert.Multiple(() =>
        {
            Assert.That(error!.Message, Is.EqualTo("Kafka refused to create topic 'orders' (ReplicationFactor 3): InvalidReplicationFactor (38): Replication factor: 3 larger than available brokers: 1."));
            Assert.That(error.ErrorCode, Is.EqualTo(ErrorCode.InvalidReplicationFactor));
            Assert.That(error.InnerException, Is.InstanceOf<CreateTopicsException>());
        });
    }

    [Test, CancelAfter(10_000)]
    public void EnsureAsync_BrokerRefusesAlter_ThrowsNamingTheConfigAndTheBrokerError(CancellationToken ct)
    {
        TopicWith(partitions: 3);
        ConfigsAre(("retention.ms", "604800000"));
        _admin.IncrementalAlterConfigsAsync(Arg.Any<Dictionary<ConfigResource, List<ConfigEntry>>>(), Arg.Any<IncrementalAlterConfigsOptions>()).ThrowsAsync(new IncrementalAlterConfigsException(
            [new IncrementalAlterConfigsReport { ConfigResource = new ConfigResource { Type = ResourceType.Topic, Name = Topic }, Error = new Error(ErrorCode.InvalidConfig, "Invalid value -5 for configuration retention.ms") }]));

        var error = Assert.ThrowsAsync<KafkaTopicException>(() => EnsureAsync(Options(whenExists: TopicExistsBehavior.AlterConfigs, configs: ("retention.ms", "-5")), ct));

        Assert.Multiple(() =>
        {
            Assert.That(error!.Message, Is.EqualTo("Kafka refused to alter the configs of topic 'orders' (Configs retention.ms=-5): InvalidConfig (40): Invalid value -5 for configuration retention.ms."));
            Assert.That(error.ErrorCode, Is.EqualTo(ErrorCode.InvalidConfig));
        });
    }

    [Test, CancelAfter(10_000)]
    public void EnsureAsync_BrokerWithoutDescribeConfigs_ThrowsNamingTheRequestAndItsKafkaVersion(CancellationToken ct)
    {
        TopicWith(partitions: 3);
        _admin.DescribeConfigsAsync(Arg.Any<IEnumerable<ConfigResource>>(), Arg.Any<DescribeConfigsOptions>()).ThrowsAsync(new KafkaException(new Error(ErrorCode.Local_UnsupportedFeature, "DescribeConfigs not supported by broker")));

        var error = Assert.ThrowsAsync<KafkaTopicException>(() => EnsureAsync(Options(configs: ("retention.ms", "1000")), ct));

        Assert.That(error!.Message, Is.EqualTo("Kafka refused to describe the configs of topic 'orders' (Configs retention.ms=1000): Local_UnsupportedFeature (-165): DescribeConfigs not supported by broker. The broker may not support DescribeConfigs (Kafka 0.11+); librdkafka's mock cluster supports no admin request at all."));
    }

    [Test, CancelAfter(10_000)]
    public async Task EnsureAsync_CreatedByAnotherClientMeanwhile_VerifiesIt(CancellationToken ct)
    {
        _admin.GetMetadata(Topic, Arg.Any<TimeSpan>()).Returns(
            MetadataOf(new TopicMetadata(Topic, [], new Error(ErrorCode.UnknownTopicOrPart))),
            MetadataOf(new TopicMetadata(Topic, [new PartitionMetadata(0, 1, [1], [1], new Error(ErrorCode.NoError))], new Error(ErrorCode.NoError))));
        _admin.CreateTopicsAsync(Arg.Any<IEnumerable<TopicSpecification>>(), Arg.Any<CreateTopicsOptions>()).ThrowsAsync(new CreateTopicsException(
            [new CreateTopicReport { Topic = Topic, Error = new Error(ErrorCode.TopicAlreadyExists, "Topic 'orders' already exists.") }]));

        EnsureTopicResult result = await EnsureAsync(Options(partitions: 1), ct);

        Assert.Multiple(() =>
        {
            Assert.That(result.Outcome, Is.EqualTo(EnsureTopicOutcome.Matched));
            Assert.That(LoggedIds(), Is.EqualTo(new[] { 2206, 2202 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task EnsureAsync_BrokerNeverAnswersCreate_FailsAtTheTimeoutNamingTheRequest(CancellationToken ct)
    {
        TopicMissing();
        var never = new TaskCompletionSource();
        _admin.CreateTopicsAsync(Arg.Any<IEnumerable<TopicSpecification>>(), Arg.Any<CreateTopicsOptions>()).Returns(never.Task);
        EnsureTopicOptions options = Options(partitions: 6);
        options.Timeout = TimeSpan.FromSeconds(10);

        Task<EnsureTopicResult> ensuring = EnsureAsync(options, ct);
        while (!_admin.ReceivedCalls().Any(c => c.GetMethodInfo().Name == nameof(IAdminClient.CreateTopicsAsync)))
        {
            // The metadata request runs on the thread pool; the create request follows it.
            await Task.Yield();
            ct.ThrowIfCancellationRequested(); // a hang fails at CancelAfter instead of spinning
        }

        Assert.That(ensuring.IsCompleted, Is.False);

        // The bound on the request is armed just after the call: the clock moves on until it has fired.
        while (!ensuring.IsCompleted)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            await Task.Yield();
            ct.ThrowIfCancellationRequested(); // a hang fails at CancelAfter instead of spinning
        }

        var error = Assert.ThrowsAsync<KafkaTopicException>(() => ensuring);
        Assert.Multiple(() =>
        {
            Assert.That(error!.Message, Is.EqualTo("Ensuring topic 'orders' did not finish within EnsureTopicOptions.Timeout (00:00:10): no answer to CreateTopics (Partitions 6, ReplicationFactor broker default). The broker may not support CreateTopics (Kafka 0.10.1+); librdkafka's mock cluster supports no admin request at all."));
            Assert.That(error.ErrorCode, Is.EqualTo(ErrorCode.Local_TimedOut));
        });
    }

    [Test, CancelAfter(10_000)]
    public void EnsureAsync_MetadataFails_ThrowsAskingWhetherTheBrokersAreReachable(CancellationToken ct)
    {
        _admin.GetMetadata(Topic, Arg.Any<TimeSpan>()).Throws(new KafkaException(new Error(ErrorCode.Local_Transport, "Broker transport failure")));

        var error = Assert.ThrowsAsync<KafkaTopicException>(() => EnsureAsync(Options(), ct));

        Assert.Multiple(() =>
        {
            Assert.That(error!.Message, Is.EqualTo("Could not read the metadata of topic 'orders': Local_Transport (-195): Broker transport failure. Is bootstrap.servers reachable?"));
            Assert.That(error.ErrorCode, Is.EqualTo(ErrorCode.Local_Transport));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task EnsureAsync_PartitionsWithoutLeaderYet_AsksAgainUntilTheyHaveOne(CancellationToken ct)
    {
        _admin.GetMetadata(Topic, Arg.Any<TimeSpan>()).Returns(
            MetadataOf(new TopicMetadata(Topic, [], new Error(ErrorCode.LeaderNotAvailable))),
            MetadataOf(new TopicMetadata(Topic, [new PartitionMetadata(0, 1, [1], [1], new Error(ErrorCode.NoError))], new Error(ErrorCode.NoError))));

        EnsureTopicOptions options = Options(partitions: 1);
        options.Timeout = TimeSpan.FromDays(1);

        // The pause between the two metadata requests runs on the fake clock: advanced until the second one is made.
        Task<EnsureTopicResult> ensuring = EnsureAsync(options, ct);
        while (!ensuring.IsCompleted)
        {
            await Task.Yield();
            ct.ThrowIfCancellationRequested(); // a hang fails at CancelAfter instead of spinning
            _time.Advance(TimeSpan.FromMilliseconds(200));
        }

        EnsureTopicResult result = await ensuring;
        Assert.That(result.Outcome, Is.EqualTo(EnsureTopicOutcome.Matched));
        _admin.Received(2).GetMetadata(Topic, Arg.Any<TimeSpan>());
    }

    [TestCase(0, null, "EnsureTopicOptions.Partitions must be at least 1, but was 0.")]
    [TestCase(-3, null, "EnsureTopicOptions.Partitions must be at least 1, but was -3.")]
    [TestCase(1, 0, "EnsureTopicOptions.ReplicationFactor must be null or from 1 to 32767, but was 0.")]
    [TestCase(1, 40000, "EnsureTopicOptions.ReplicationFactor must be null or from 1 to 32767, but was 40000.")]
    public void EnsureAsync_BadOption_ThrowsArgumentExceptionNamingItAndItsValue(int partitions, int? replicationFactor, string expected)
    {
        var error = Assert.ThrowsAsync<ArgumentException>(() => EnsureAsync(Options(partitions, replicationFactor), CancellationToken.None));

        Assert.That(error!.Message, Does.StartWith(expected));
        _admin.DidNotReceiveWithAnyArgs().GetMetadata(default!, default);
    }

    [Test]
    public void Validate_BadTopicNameTimeoutAndBehavior_ReportsEachOnce()
    {
        var options = new EnsureTopicOptions { Topic = "a b", Timeout = TimeSpan.Zero, WhenExists = (TopicExistsBehavior)7 };

        Assert.That(options.Validate(), Is.EqualTo(new[]
        {
            "EnsureTopicOptions.Topic 'a b' is not a legal Kafka topic name: it contains ' ', and only ASCII letters, digits, '.', '_' and '-' are allowed.",
            "EnsureTopicOptions.WhenExists must be Verify or AlterConfigs, but was 7.",
            "EnsureTopicOptions.Timeout must be greater than zero and at most 24.20:31:23.6470000, but was 00:00:00.",
        }));
    }

    [Test, CancelAfter(10_000)]
    public void CreateAsync_NoTopicInEitherOptions_ThrowsArgumentExceptionBeforeConnecting(CancellationToken ct)
    {
        var error = Assert.ThrowsAsync<ArgumentException>(() => KafkaProducerBlock.CreateAsync<string, string>(
            new ProducerConfig { BootstrapServers = "127.0.0.1:1" },
            new EnsureTopicOptions { Partitions = 3 },
            new KafkaSinkOptions<string, string>(),
            cancellationToken: ct));

        Assert.That(error!.Message, Does.StartWith("EnsureTopicOptions.Topic must be set (or a default topic given), but was null."));
    }

    [Test, CancelAfter(10_000)]
    public void CreateAsync_BadPipelineOption_ThrowsArgumentExceptionBeforeConnecting(CancellationToken ct)
    {
        var error = Assert.ThrowsAsync<ArgumentException>(() => KafkaProducerBlock.CreateAsync<string, string>(
            new ProducerConfig { BootstrapServers = "127.0.0.1:1" },
            new EnsureTopicOptions { Topic = Topic },
            options: new BatchProducerOptions { BatchSize = 0 },
            cancellationToken: ct));

        Assert.That(error!.Message, Does.StartWith("BatchProducerOptions.BatchSize must be at least 1, but was 0."));
    }

    [Test, CancelAfter(10_000)]
    public void CreateAsync_BytesBoundForRecordsTheSinkCannotMeasure_ThrowsBeforeEnsuringTheTopic(CancellationToken ct)
    {
        var error = Assert.ThrowsAsync<ArgumentNullException>(() => KafkaProducerBlock.CreateAsync<string, Uri>(
            new ProducerConfig { BootstrapServers = "127.0.0.1:1" },
            new EnsureTopicOptions { Topic = Topic },
            options: new BatchProducerOptions { BoundedBytes = 1024 },
            cancellationToken: ct));

        Assert.That(error!.Message, Does.StartWith("BatchProducerOptions.ItemSize must be set when BoundedBytes (1024)"));
    }

    [Test, CancelAfter(10_000)]
    public void CreateAsync_BadSinkOption_ThrowsBeforeEnsuringTheTopic(CancellationToken ct)
    {
        // Nothing listens on the address: an ensure that started would wait for the broker, not fail on the option.
        var error = Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => KafkaProducerBlock.CreateAsync(
            new ProducerConfig { BootstrapServers = "127.0.0.1:1" },
            new EnsureTopicOptions { Topic = Topic, Timeout = TimeSpan.FromSeconds(30) },
            new KafkaSinkOptions<string, string> { QueueFullRetryInterval = TimeSpan.Zero },
            cancellationToken: ct));

        Assert.That(error!.Message, Does.StartWith("KafkaSinkOptions.QueueFullRetryInterval must be greater than zero"));
    }

    [Test, CancelAfter(10_000)]
    public void CreateAsync_ValueTypeWithoutASerializer_ThrowsBeforeEnsuringTheTopic(CancellationToken ct)
    {
        var error = Assert.ThrowsAsync<ArgumentException>(() => KafkaProducerBlock.CreateAsync<string, Uri>(
            new ProducerConfig { BootstrapServers = "127.0.0.1:1" },
            new EnsureTopicOptions { Topic = Topic, Timeout = TimeSpan.FromSeconds(30) },
            cancellationToken: ct));

        Assert.That(error!.Message, Does.StartWith("There is no default value serializer for System.Uri"));
    }

    [Test]
    public void EnsureAsync_NoTopic_ThrowsArgumentException()
    {
        var error = Assert.ThrowsAsync<ArgumentException>(() => KafkaTopics.EnsureAsync(_admin, new EnsureTopicOptions()));

        Assert.That(error!.Message, Does.StartWith("EnsureTopicOptions.Topic must be set"));
    }
}
