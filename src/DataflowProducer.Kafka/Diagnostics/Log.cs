using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace DataflowProducer.Kafka.Diagnostics;

/// <summary>Every log line of the Kafka sink. EventIds are stable: operators filter and alert on them.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2001, EventName = "QueueFull", Level = LogLevel.Debug, Message = "The client's queue is full; waiting for room before message {Index} of the batch.")]
    public static partial void QueueFull(ILogger logger, int index);

    [LoggerMessage(EventId = 2002, EventName = "FlushStarted", Level = LogLevel.Information, Message = "Flushing the producer (timeout {Timeout}).")]
    public static partial void FlushStarted(ILogger logger, TimeSpan timeout);

    [LoggerMessage(EventId = 2003, EventName = "FlushLeftMessages", Level = LogLevel.Warning, Message = "The flush ended with {Count} message(s) still queued; their batches' unknown messages are abandoned.")]
    public static partial void FlushLeftMessages(ILogger logger, int count);

    [LoggerMessage(EventId = 2004, EventName = "ClientError", Level = LogLevel.Warning, Message = "Kafka client error {Code} (fatal: {IsFatal}): {Reason}")]
    public static partial void ClientError(ILogger logger, ErrorCode code, bool isFatal, string reason);

    [LoggerMessage(EventId = 2005, EventName = "ClientLog", Level = LogLevel.Debug, Message = "librdkafka {Facility}: {Text}")]
    public static partial void ClientLog(ILogger logger, string facility, string text);

    [LoggerMessage(EventId = 2006, EventName = "ProducerCreated", Level = LogLevel.Information, Message = "Producer created for {BootstrapServers} (idempotence: {Idempotence}).")]
    public static partial void ProducerCreated(ILogger logger, string? bootstrapServers, bool? idempotence);

    [LoggerMessage(EventId = 2007, EventName = "FlushDidNotReturn", Level = LogLevel.Warning, Message = "The client's flush did not return within {Bound}; not waiting for it any longer.")]
    public static partial void FlushDidNotReturn(ILogger logger, TimeSpan bound);

    [LoggerMessage(EventId = 2008, EventName = "ClientBroken", Level = LogLevel.Error, Message = "The Kafka client failed fatally; nothing more is produced and the next batch is refused.")]
    public static partial void ClientBroken(ILogger logger, Exception error);

    [LoggerMessage(EventId = 2101, EventName = "PartitionsAssigned", Level = LogLevel.Information, Message = "Partitions assigned: {Partitions}.")]
    public static partial void PartitionsAssigned(ILogger logger, IEnumerable<TopicPartition> partitions);

    [LoggerMessage(EventId = 2102, EventName = "PartitionsRevoked", Level = LogLevel.Information, Message = "Partitions revoked (lost: {Lost}): {Partitions}; their safe offsets are committed and the rest forgotten.")]
    public static partial void PartitionsRevoked(ILogger logger, IEnumerable<TopicPartition> partitions, bool lost);

    [LoggerMessage(EventId = 2103, EventName = "CommitFailed", Level = LogLevel.Warning, Message = "Committing the stored offsets failed; the group resumes from the last commit that landed.")]
    public static partial void CommitFailed(ILogger logger, Exception error);

    [LoggerMessage(EventId = 2104, EventName = "StoreFailed", Level = LogLevel.Debug, Message = "The client refused to store offset {Offset} of {Partition} (no longer assigned, or closed).")]
    public static partial void StoreFailed(ILogger logger, Exception error, TopicPartition partition, long offset);

    [LoggerMessage(EventId = 2105, EventName = "EndOfPartitions", Level = LogLevel.Information, Message = "Every assigned partition reached its end; the source stops consuming.")]
    public static partial void EndOfPartitions(ILogger logger);

    [LoggerMessage(EventId = 2106, EventName = "ConsumeFailed", Level = LogLevel.Error, Message = "Consuming failed; the source is faulted.")]
    public static partial void ConsumeFailed(ILogger logger, Exception error);

    [LoggerMessage(EventId = 2107, EventName = "CloseFailed", Level = LogLevel.Warning, Message = "Closing the consumer failed.")]
    public static partial void CloseFailed(ILogger logger, Exception error);

    [LoggerMessage(EventId = 2108, EventName = "PartitionHeld", Level = LogLevel.Warning, Message = "{Partition} is held at offset {Offset}: its item's outcome is {Status}, so no commit passes it until the partition is revoked.")]
    public static partial void PartitionHeld(ILogger logger, TopicPartition partition, long offset, OutcomeStatus status);

    [LoggerMessage(EventId = 2111, EventName = "PartitionStillHeld", Level = LogLevel.Debug, Message = "{Partition} is also held at offset {Offset}: its item's outcome is {Status}.")]
    public static partial void PartitionStillHeld(ILogger logger, TopicPartition partition, long offset, OutcomeStatus status);

    [LoggerMessage(EventId = 2109, EventName = "PositionFailed", Level = LogLevel.Warning, Message = "The source-position function threw; the item is ignored and its partition waits.")]
    public static partial void PositionFailed(ILogger logger, Exception error);

    [LoggerMessage(EventId = 2110, EventName = "DeadLetterFailed", Level = LogLevel.Warning, Message = "The dead-letter handler failed for offset {Offset} of {Partition}; the partition is held there.")]
    public static partial void DeadLetterFailed(ILogger logger, Exception error, TopicPartition partition, long offset);

    [LoggerMessage(EventId = 2201, EventName = "TopicCreated", Level = LogLevel.Information, Message = "Topic {Topic} created: {Partitions} partition(s), replication factor {ReplicationFactor} (empty: the broker's default), {ConfigCount} config(s).")]
    public static partial void TopicCreated(ILogger logger, string topic, int partitions, int? replicationFactor, int configCount);

    [LoggerMessage(EventId = 2202, EventName = "TopicVerified", Level = LogLevel.Information, Message = "Topic {Topic} exists and matches its specification: {Partitions} partition(s).")]
    public static partial void TopicVerified(ILogger logger, string topic, int partitions);

    [LoggerMessage(EventId = 2203, EventName = "TopicAltered", Level = LogLevel.Information, Message = "Topic {Topic} altered: {Changes}.")]
    public static partial void TopicAltered(ILogger logger, string topic, IReadOnlyList<string> changes);

    [LoggerMessage(EventId = 2204, EventName = "TopicDiffers", Level = LogLevel.Warning, Message = "Topic {Topic} differs from its specification and is left as it is: {Differences}.")]
    public static partial void TopicDiffers(ILogger logger, string topic, IReadOnlyList<string> differences);

    [LoggerMessage(EventId = 2205, EventName = "TopicEnsureFailed", Level = LogLevel.Error, Message = "Ensuring topic {Topic} failed: {Reason}")]
    public static partial void TopicEnsureFailed(ILogger logger, string topic, string reason);

    [LoggerMessage(EventId = 2206, EventName = "TopicCreatedMeanwhile", Level = LogLevel.Debug, Message = "Topic {Topic} was created by another client meanwhile; verifying it instead.")]
    public static partial void TopicCreatedMeanwhile(ILogger logger, string topic);
}
