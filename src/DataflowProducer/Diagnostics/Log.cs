using Microsoft.Extensions.Logging;

namespace DataflowProducer.Diagnostics;

/// <summary>Every log line of the pipeline. EventIds are stable: operators filter and alert on them.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1001, EventName = "BatchAccepted", Level = LogLevel.Debug, Message = "Batch {BatchNumber} of {ItemCount} item(s) accepted by the sink.")]
    public static partial void BatchAccepted(ILogger logger, long batchNumber, int itemCount);

    [LoggerMessage(EventId = 1002, EventName = "BatchAcknowledged", Level = LogLevel.Debug, Message = "Batch {BatchNumber} acknowledged: {Delivered} delivered, {Failed} failed, {NotSent} not sent, {Unknown} unknown.")]
    public static partial void BatchAcknowledged(ILogger logger, long batchNumber, int delivered, int failed, int notSent, int unknown);

    [LoggerMessage(EventId = 1003, EventName = "ItemFailed", Level = LogLevel.Warning, Message = "An item of batch {BatchNumber} failed at index {Index}.")]
    public static partial void ItemFailed(ILogger logger, Exception error, long batchNumber, int index);

    [LoggerMessage(EventId = 1004, EventName = "SinkFailed", Level = LogLevel.Error, Message = "The sink failed while accepting batch {BatchNumber}; the pipeline stops.")]
    public static partial void SinkFailed(ILogger logger, Exception error, long batchNumber);

    [LoggerMessage(EventId = 1005, EventName = "DrainStarted", Level = LogLevel.Information, Message = "Draining: {Accepted} accepted, {Delivered} delivered, {InFlight} in flight; drain timeout {DrainTimeout}.")]
    public static partial void DrainStarted(ILogger logger, long accepted, long delivered, long inFlight, TimeSpan drainTimeout);

    [LoggerMessage(EventId = 1006, EventName = "DrainCompleted", Level = LogLevel.Information, Message = "Drained: {Accepted} accepted, {Delivered} delivered, {Failed} failed, {Abandoned} abandoned ({NotSent} not sent, {Unknown} unknown), {Batches} batches.")]
    public static partial void DrainCompleted(ILogger logger, long accepted, long delivered, long failed, long abandoned, long notSent, long unknown, long batches);

    [LoggerMessage(EventId = 1007, EventName = "ItemsAbandoned", Level = LogLevel.Error, Message = "{Count} item(s) abandoned, {Status}: {Reason}")]
    public static partial void ItemsAbandoned(ILogger logger, int count, string status, string reason);

    [LoggerMessage(EventId = 1008, EventName = "FlushFailed", Level = LogLevel.Error, Message = "The sink's flush failed.")]
    public static partial void FlushFailed(ILogger logger, Exception error);

    [LoggerMessage(EventId = 1009, EventName = "CallbackFailed", Level = LogLevel.Error, Message = "The {Callback} callback threw; the pipeline goes on.")]
    public static partial void CallbackFailed(ILogger logger, Exception error, string callback);

    [LoggerMessage(EventId = 1010, EventName = "PipelineAborted", Level = LogLevel.Error, Message = "The pipeline is aborting: {Reason}")]
    public static partial void PipelineAborted(ILogger logger, Exception? error, string reason);

    [LoggerMessage(EventId = 1011, EventName = "ResultIndexOutOfRange", Level = LogLevel.Warning, Message = "The sink's result for batch {BatchNumber} names index {Index}, outside the batch of {ItemCount} item(s); the entry is ignored.")]
    public static partial void ResultIndexOutOfRange(ILogger logger, long batchNumber, int index, int itemCount);

    [LoggerMessage(EventId = 1012, EventName = "DisposeFailed", Level = LogLevel.Error, Message = "Disposing what the pipeline owns (a client it built) failed or did not finish; the counts are final.")]
    public static partial void DisposeFailed(ILogger logger, Exception error);

    [LoggerMessage(EventId = 1013, EventName = "BatchLimitsChanged", Level = LogLevel.Information, Message = "Adaptive batching: batch size {OldBatchSize} -> {NewBatchSize}, linger {OldLinger} -> {NewLinger}; {Reason}.")]
    public static partial void BatchLimitsChanged(ILogger logger, int oldBatchSize, int newBatchSize, TimeSpan oldLinger, TimeSpan newLinger, string reason);

    [LoggerMessage(EventId = 1014, EventName = "ItemSizeFailed", Level = LogLevel.Warning, Message = "The item's size could not be measured for the bytes bound ({Reason}); the item is declined when posted, taken as 0 bytes when a source offers it; the pipeline goes on.")]
    public static partial void ItemSizeFailed(ILogger logger, Exception? exception, string reason);
}
