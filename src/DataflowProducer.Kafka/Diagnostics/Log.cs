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
}
