using Confluent.Kafka;
using DataflowProducer.Diagnostics;
using DataflowProducer.Kafka.Internal;
using Microsoft.Extensions.Logging;

namespace DataflowProducer.Kafka;

/// <summary>Ensures a topic before producing to it: creates it when it is missing, and otherwise checks its partitions
/// and configs against an <see cref="EnsureTopicOptions"/> (and sets differing configs, or adds partitions, when
/// asked to).</summary>
/// <remarks>
/// <para>Steps, each bounded by what is left of <see cref="EnsureTopicOptions.Timeout"/>: the topic's metadata
/// (every broker answers it); CreateTopics when it is missing (Kafka 0.10.1+); when it exists, its partition count
/// and replication factor from the metadata, then, only when <see cref="EnsureTopicOptions.Configs"/> is not empty,
/// DescribeConfigs (Kafka 0.11+) and, with <see cref="TopicExistsBehavior.AlterConfigs"/>, IncrementalAlterConfigs
/// (Kafka 2.3+) for the differing ones; CreatePartitions (Kafka 1.0+) with
/// <see cref="EnsureTopicOptions.AllowPartitionGrowth"/>.</para>
/// <para>So against a Kafka 0.9 or 0.10.0 broker a topic can be verified (partitions, replication factor) but not
/// created or altered; such a broker creates a topic itself when its metadata is asked for, if its
/// <c>auto.create.topics.enable</c> is on (with its <c>num.partitions</c>). librdkafka's mock cluster answers no admin
/// request: create its topics with its own API, then verify them here.</para>
/// <para>Log events (category <c>DataflowProducer.Kafka.KafkaTopics</c>): 2201 created, 2202 verified, 2203 altered,
/// 2204 differs, 2205 failed, 2206 created by another client meanwhile. Client configuration values (secrets included)
/// are never logged; the topic configs asked for and found are, except values the broker flags as sensitive.</para>
/// </remarks>
public static class KafkaTopics
{
    internal const string LoggerCategory = "DataflowProducer.Kafka.KafkaTopics";

    /// <summary>Ensures the topic through an admin client built from a producer's configuration (its connection and
    /// security settings), and disposed at the end.</summary>
    /// <param name="config">The client configuration, for example the one the producer is built from.
    /// <c>allow.auto.create.topics</c> is set to false unless it is set: the metadata request must not create the
    /// topic with the broker's defaults.</param>
    /// <param name="options">The topic and what to do when it exists; <see cref="EnsureTopicOptions.Topic"/> must be
    /// set.</param>
    /// <param name="logger">Where the outcome is logged; null for nowhere.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>What was found and done.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> or <paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException">An option is invalid, or the client rejects the configuration; the message
    /// names it.</exception>
    /// <exception cref="KafkaTopicException">The broker refused, could not be reached in time, or the topic has fewer
    /// partitions than asked.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public static async Task<EnsureTopicResult> EnsureAsync(ProducerConfig config, EnsureTopicOptions options, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        EnsureTopicOptions copy = Validated(options, defaultTopic: null);
        return await EnsureOwnedAsync(BuildAdminClient(config, logger), copy, logger, cancellationToken).ConfigureAwait(false);
    }

    // Ensures through an admin client this call owns. A timeout or cancellation ends the wait, not the client's call
    // under way (a metadata request blocks a thread in the native client until its own timeout): the client is
    // disposed only once that call has returned, never under it.
    internal static async Task<EnsureTopicResult> EnsureOwnedAsync(IAdminClient admin, EnsureTopicOptions options, ILogger? logger, CancellationToken cancellationToken)
    {
        var ensurer = new TopicEnsurer(admin, options, GuardedLogger.Wrap(logger), cancellationToken);
        try
        {
            return await ensurer.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            if (ensurer.Outstanding is { IsCompleted: false } outstanding)
            {
                _ = outstanding.ContinueWith(
                    static (call, state) =>
                    {
                        _ = call.Exception;
                        ((IAdminClient)state!).Dispose();
                    },
                    admin,
                    CancellationToken.None,
                    TaskContinuationOptions.None,
                    TaskScheduler.Default);
            }
            else
            {
                admin.Dispose();
            }
        }
    }

    /// <summary>Ensures the topic through an admin client the caller owns.</summary>
    /// <param name="adminClient">The admin client. When it may auto-create topics (its <c>allow.auto.create.topics</c>
    /// is true, librdkafka's default for this kind of client), a missing topic may be created by the metadata request
    /// with the broker's defaults.</param>
    /// <param name="options">The topic and what to do when it exists; <see cref="EnsureTopicOptions.Topic"/> must be
    /// set.</param>
    /// <param name="logger">Where the outcome is logged; null for nowhere.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>What was found and done.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="adminClient"/> or <paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException">An option is invalid; the message names it.</exception>
    /// <exception cref="KafkaTopicException">The broker refused, could not be reached in time, or the topic has fewer
    /// partitions than asked.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public static Task<EnsureTopicResult> EnsureAsync(IAdminClient adminClient, EnsureTopicOptions options, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(adminClient);
        EnsureTopicOptions copy = Validated(options, defaultTopic: null);
        return new TopicEnsurer(adminClient, copy, GuardedLogger.Wrap(logger), cancellationToken).RunAsync();
    }

    // A copy (later changes by the caller do not leak in), with the default topic filled in, checked once.
    internal static EnsureTopicOptions Validated(EnsureTopicOptions options, string? defaultTopic)
    {
        ArgumentNullException.ThrowIfNull(options);
        EnsureTopicOptions copy = options.Clone(defaultTopic);
        if (copy.Validate() is [string first, ..])
        {
            throw new ArgumentException(first, nameof(options));
        }

        if (copy.Topic is null)
        {
            throw new ArgumentException("EnsureTopicOptions.Topic must be set (or a default topic given), but was null.", nameof(options));
        }

        return copy;
    }

    private static IAdminClient BuildAdminClient(ProducerConfig config, ILogger? logger)
    {
        // The .NET client's own producer settings mean nothing to an admin client, which refuses some of them.
        var settings = config.Where(static kv => !kv.Key.StartsWith("dotnet.", StringComparison.Ordinal)).ToDictionary(static kv => kv.Key, static kv => kv.Value, StringComparer.Ordinal);
        settings.TryAdd("allow.auto.create.topics", "false");
        ILogger guarded = GuardedLogger.Wrap(logger);
        try
        {
            return new AdminClientBuilder(settings)
                .SetErrorHandler((_, error) => Diagnostics.Log.ClientError(guarded, error.Code, error.IsFatal, error.Reason))
                .SetLogHandler((_, message) => Diagnostics.Log.ClientLog(guarded, message.Facility, message.Message))
                .Build();
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            throw new ArgumentException($"The client configuration was rejected for the admin client that ensures the topic: {ex.Message}", nameof(config), ex);
        }
    }
}
