using System.Globalization;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
using DataflowProducer.Kafka.Diagnostics;
using Microsoft.Extensions.Logging;

namespace DataflowProducer.Kafka.Internal;

/// <summary>One run of ensuring a topic: metadata first (which every broker answers), then CreateTopics when it is
/// missing, or the checks (and, when asked, the changes) when it exists. Every request to the brokers is bounded by
/// what is left of <see cref="EnsureTopicOptions.Timeout"/>; every failure becomes a <see cref="KafkaTopicException"/>
/// that names the topic, the setting and its value, and the error the broker or client gave.</summary>
internal sealed class TopicEnsurer
{
    // A topic the broker has just created (by CreateTopics, or auto-created by the metadata request itself on old
    // brokers) has partitions without a leader for a moment; metadata is asked again after this pause.
    private static readonly TimeSpan LeaderWait = TimeSpan.FromMilliseconds(200);

    private readonly IAdminClient _admin;
    private readonly EnsureTopicOptions _options;
    private readonly string _topic;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationToken _cancellationToken;
    private readonly long _started;

    public TopicEnsurer(IAdminClient admin, EnsureTopicOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        _admin = admin;
        _options = options;
        _topic = options.Topic!;
        _logger = logger;
        _time = options.TimeProvider;
        _cancellationToken = cancellationToken;
        _started = _time.GetTimestamp();
    }

    /// <summary>Gets the last request's own task, which may still run after the ensure gave up waiting for it.</summary>
    public Task? Outstanding { get; private set; }

    public async Task<EnsureTopicResult> RunAsync()
    {
        try
        {
            TopicMetadata? existing = await ReadMetadataAsync().ConfigureAwait(false);
            if (existing is null)
            {
                if (await TryCreateAsync().ConfigureAwait(false))
                {
                    Log.TopicCreated(_logger, _topic, _options.Partitions, _options.ReplicationFactor, _options.Configs.Count);
                    return new EnsureTopicResult(_topic, EnsureTopicOutcome.Created, _options.Partitions, [], []);
                }

                existing = await ReadMetadataAsync().ConfigureAwait(false)
                    ?? throw new KafkaTopicException(_topic, $"Topic '{_topic}' was reported as existing by CreateTopics, but its metadata says it does not exist.", ErrorCode.UnknownTopicOrPart, null);
            }

            return await VerifyAsync(existing).ConfigureAwait(false);
        }
        catch (KafkaTopicException ex)
        {
            Log.TopicEnsureFailed(_logger, _topic, ex.Message);
            throw;
        }
    }

    // Null when the topic does not exist.
    private async Task<TopicMetadata?> ReadMetadataAsync()
    {
        while (true)
        {
            Metadata metadata;
            try
            {
                metadata = await StepAsync("Metadata", remaining => Task.Run(() => _admin.GetMetadata(_topic, remaining), _cancellationToken)).ConfigureAwait(false);
            }
            catch (KafkaException ex)
            {
                throw new KafkaTopicException(
                    _topic,
                    $"Could not read the metadata of topic '{_topic}': {Describe(ex.Error)}. Is bootstrap.servers reachable?",
                    ex.Error.Code,
                    ex);
            }

            TopicMetadata? topic = metadata.Topics.Find(t => t.Topic == _topic);
            ErrorCode code = topic?.Error?.Code ?? ErrorCode.UnknownTopicOrPart;
            if (code == ErrorCode.UnknownTopicOrPart)
            {
                return null;
            }

            bool leaderless = code == ErrorCode.LeaderNotAvailable || topic!.Partitions.Count == 0 || topic.Partitions.Exists(static p => p.Leader < 0);
            if (code != ErrorCode.NoError && !leaderless)
            {
                throw new KafkaTopicException(_topic, $"Could not read the metadata of topic '{_topic}': {Describe(topic!.Error!)}.", code, null);
            }

            if (!leaderless)
            {
                return topic;
            }

            _ = Remaining("Metadata (waiting for the partitions' leaders)");
            await Task.Delay(LeaderWait, _time, _cancellationToken).ConfigureAwait(false);
        }
    }

    // False when another client created the topic meanwhile.
    private async Task<bool> TryCreateAsync()
    {
        var specification = new TopicSpecification
        {
            Name = _topic,
            NumPartitions = _options.Partitions,
            ReplicationFactor = (short)(_options.ReplicationFactor ?? -1),
            Configs = _options.Configs.Count == 0 ? null : new Dictionary<string, string>(_options.Configs, StringComparer.Ordinal),
        };
        try
        {
            await StepAsync("CreateTopics", remaining => _admin.CreateTopicsAsync([specification], new CreateTopicsOptions { RequestTimeout = remaining, OperationTimeout = remaining }), CreateSetting(ErrorCode.Unknown)).ConfigureAwait(false);
            return true;
        }
        catch (CreateTopicsException ex)
        {
            Error error = ex.Results.Find(r => r.Topic == _topic)?.Error ?? ex.Error;
            if (error.Code == ErrorCode.TopicAlreadyExists)
            {
                Log.TopicCreatedMeanwhile(_logger, _topic);
                return false;
            }

            throw Refused("create", CreateSetting(error.Code), error, "CreateTopics", ex);
        }
        catch (KafkaException ex)
        {
            throw Refused("create", CreateSetting(ex.Error.Code), ex.Error, "CreateTopics", ex);
        }
    }

    private async Task<EnsureTopicResult> VerifyAsync(TopicMetadata topic)
    {
        int partitions = topic.Partitions.Count;
        var differences = new List<string>();
        var changes = new List<string>();
        if (partitions < _options.Partitions)
        {
            if (!_options.AllowPartitionGrowth)
            {
                throw new KafkaTopicException(
                    _topic,
                    Invariant($"Topic '{_topic}' has {partitions} partition(s), fewer than EnsureTopicOptions.Partitions ({_options.Partitions}). Set AllowPartitionGrowth to add partitions (records of a key then change partition), or ask for {partitions}."),
                    null,
                    null);
            }

            await AddPartitionsAsync().ConfigureAwait(false);
            changes.Add(Invariant($"partitions {partitions} -> {_options.Partitions}"));
            partitions = _options.Partitions;
        }
        else if (partitions > _options.Partitions)
        {
            differences.Add(Invariant($"{partitions} partitions, more than the asked {_options.Partitions}"));
        }

        if (_options.ReplicationFactor is { } asked)
        {
            // Every partition: a reassignment can leave some with another replication factor than the rest.
            int[] factors = [.. topic.Partitions.Select(static p => p.Replicas.Length).Distinct().Order()];
            if (factors.Any(f => f != asked))
            {
                differences.Add(Invariant($"replication factor {string.Join(" / ", factors)}{(factors.Length > 1 ? " (partitions differ)" : string.Empty)}, not the asked {asked}"));
            }
        }

        if (_options.Configs.Count > 0)
        {
            await CompareConfigsAsync(differences, changes).ConfigureAwait(false);
        }

        if (changes.Count > 0)
        {
            Log.TopicAltered(_logger, _topic, changes);
        }

        if (differences.Count > 0)
        {
            Log.TopicDiffers(_logger, _topic, differences);
        }
        else if (changes.Count == 0)
        {
            Log.TopicVerified(_logger, _topic, partitions);
        }

        EnsureTopicOutcome outcome = changes.Count > 0 ? EnsureTopicOutcome.Altered : differences.Count > 0 ? EnsureTopicOutcome.Differs : EnsureTopicOutcome.Matched;
        return new EnsureTopicResult(_topic, outcome, partitions, differences, changes);
    }

    private async Task AddPartitionsAsync()
    {
        var specification = new PartitionsSpecification { Topic = _topic, IncreaseTo = _options.Partitions };
        try
        {
            await StepAsync("CreatePartitions", remaining => _admin.CreatePartitionsAsync([specification], new CreatePartitionsOptions { RequestTimeout = remaining, OperationTimeout = remaining }), Invariant($"Partitions {_options.Partitions}")).ConfigureAwait(false);
        }
        catch (CreatePartitionsException ex)
        {
            Error error = ex.Results.Find(r => r.Topic == _topic)?.Error ?? ex.Error;
            throw Refused("add partitions to", Invariant($"Partitions {_options.Partitions}"), error, "CreatePartitions", ex);
        }
        catch (KafkaException ex)
        {
            throw Refused("add partitions to", Invariant($"Partitions {_options.Partitions}"), ex.Error, "CreatePartitions", ex);
        }
    }

    private async Task CompareConfigsAsync(List<string> differences, List<string> changes)
    {
        var resource = new ConfigResource { Type = ResourceType.Topic, Name = _topic };
        Dictionary<string, ConfigEntryResult> current;
        try
        {
            List<DescribeConfigsResult> described = await StepAsync("DescribeConfigs", remaining => _admin.DescribeConfigsAsync([resource], new DescribeConfigsOptions { RequestTimeout = remaining }), ConfigsSetting(_options.Configs)).ConfigureAwait(false);
            current = described.Count == 0 ? [] : described[0].Entries;
        }
        catch (DescribeConfigsException ex)
        {
            Error error = ex.Results.Count == 0 ? ex.Error : ex.Results[0].Error;
            throw Refused("describe the configs of", ConfigsSetting(_options.Configs), error, "DescribeConfigs", ex);
        }
        catch (KafkaException ex)
        {
            throw Refused("describe the configs of", ConfigsSetting(_options.Configs), ex.Error, "DescribeConfigs", ex);
        }

        var wrong = new List<(string Name, string Asked, string Line)>();
        foreach ((string name, string asked) in _options.Configs.OrderBy(static c => c.Key, StringComparer.Ordinal))
        {
            if (!current.TryGetValue(name, out ConfigEntryResult? entry))
            {
                wrong.Add((name, asked, $"{name} is not a config the broker reports for the topic (asked {asked})"));
            }
            else if (!string.Equals(entry.Value, asked, StringComparison.Ordinal))
            {
                string line = entry.IsSensitive ? $"{name} (sensitive) differs from the asked value" : $"{name} is {entry.Value ?? "null"}, not the asked {asked}";
                wrong.Add((name, asked, line));
            }
        }

        if (wrong.Count == 0)
        {
            return;
        }

        if (_options.WhenExists != TopicExistsBehavior.AlterConfigs)
        {
            differences.AddRange(wrong.Select(static w => w.Line));
            return;
        }

        var alter = new Dictionary<ConfigResource, List<ConfigEntry>>
        {
            [resource] = [.. wrong.Select(static w => new ConfigEntry { Name = w.Name, Value = w.Asked, IncrementalOperation = AlterConfigOpType.Set })],
        };
        string setting = ConfigsSetting(wrong.ToDictionary(static w => w.Name, static w => w.Asked, StringComparer.Ordinal));
        try
        {
            await StepAsync("IncrementalAlterConfigs", async remaining =>
            {
                await _admin.IncrementalAlterConfigsAsync(alter, new IncrementalAlterConfigsOptions { RequestTimeout = remaining }).ConfigureAwait(false);
                return true;
            },
            setting).ConfigureAwait(false);
        }
        catch (IncrementalAlterConfigsException ex)
        {
            Error error = ex.Results.Count == 0 ? ex.Error : ex.Results[0].Error;
            throw Refused("alter the configs of", setting, error, "IncrementalAlterConfigs", ex);
        }
        catch (KafkaException ex)
        {
            throw Refused("alter the configs of", setting, ex.Error, "IncrementalAlterConfigs", ex);
        }

        changes.AddRange(wrong.Select(static w => $"{w.Name} set to {w.Asked}"));
    }

    // One request, bounded by what is left of the timeout; the client's own request timeout is set to the same.
    private async Task<T> StepAsync<T>(string request, Func<TimeSpan, Task<T>> call, string? setting = null)
    {
        TimeSpan remaining = Remaining(request);
        try
        {
            Task<T> calling = call(remaining);
            Outstanding = calling;
            return await calling.WaitAsync(remaining, _time, _cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException ex)
        {
            throw TimedOut(request, ex, setting);
        }
    }

    private Task<bool> StepAsync(string request, Func<TimeSpan, Task> call, string setting) => StepAsync(
        request,
        async remaining =>
        {
            await call(remaining).ConfigureAwait(false);
            return true;
        },
        setting);

    private TimeSpan Remaining(string request)
    {
        TimeSpan remaining = _options.Timeout - _time.GetElapsedTime(_started);
        return remaining > TimeSpan.Zero ? remaining : throw TimedOut(request, null, null);
    }

    private KafkaTopicException TimedOut(string request, Exception? cause, string? setting) => new(
        _topic,
        $"Ensuring topic '{_topic}' did not finish within EnsureTopicOptions.Timeout ({_options.Timeout}): no answer to {request}{(setting is null ? string.Empty : $" ({setting})")}.{Hint(request, ErrorCode.Local_TimedOut)}",
        ErrorCode.Local_TimedOut,
        cause);

    private KafkaTopicException Refused(string action, string setting, Error error, string request, Exception cause) => new(
        _topic,
        $"Kafka refused to {action} topic '{_topic}' ({setting}): {Describe(error)}.{Hint(request, error.Code)}",
        error.Code,
        cause);

    // The admin requests old brokers (and librdkafka's mock cluster) do not have: the client says "unsupported", or, when
    // it cannot even find a controller to send the request to, times out.
    private static string Hint(string request, ErrorCode code)
    {
        string? since = request switch
        {
            "CreateTopics" => "Kafka 0.10.1",
            "DescribeConfigs" => "Kafka 0.11",
            "CreatePartitions" => "Kafka 1.0",
            "IncrementalAlterConfigs" => "Kafka 2.3",
            _ => null,
        };
        if (since is null)
        {
            return code is ErrorCode.Local_TimedOut or ErrorCode.Local_Transport or ErrorCode.Local_AllBrokersDown ? " Is bootstrap.servers reachable?" : string.Empty;
        }

        return code switch
        {
            // The broker took the request but did not finish it within the time left: it may still do so.
            ErrorCode.RequestTimedOut => $" The broker accepted {request} but did not finish it within the time left; it may still complete (a longer EnsureTopicOptions.Timeout gives it more).",
            ErrorCode.Local_UnsupportedFeature or ErrorCode.UnsupportedVersion or ErrorCode.Local_TimedOut => $" The broker may not support {request} ({since}+); librdkafka's mock cluster supports no admin request at all.",
            _ => string.Empty,
        };
    }

    private string CreateSetting(ErrorCode code) => code switch
    {
        ErrorCode.InvalidPartitions => Invariant($"Partitions {_options.Partitions}"),
        ErrorCode.InvalidReplicationFactor => Invariant($"ReplicationFactor {_options.ReplicationFactor?.ToString(CultureInfo.InvariantCulture) ?? "broker default"}"),
        ErrorCode.InvalidConfig => ConfigsSetting(_options.Configs),
        _ => Invariant($"Partitions {_options.Partitions}, ReplicationFactor {_options.ReplicationFactor?.ToString(CultureInfo.InvariantCulture) ?? "broker default"}")
            + (_options.Configs.Count == 0 ? string.Empty : ", " + ConfigsSetting(_options.Configs)),
    };

    private static string ConfigsSetting(IReadOnlyDictionary<string, string> configs) =>
        "Configs " + string.Join(", ", configs.OrderBy(static c => c.Key, StringComparer.Ordinal).Select(static c => $"{c.Key}={c.Value}"));

    // Brokers' reasons often end with a full stop; the messages add their own.
    private static string Describe(Error error) => Invariant($"{error.Code} ({(int)error.Code}): {error.Reason?.TrimEnd('.')}");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
