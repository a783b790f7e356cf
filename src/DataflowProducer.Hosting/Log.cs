using Microsoft.Extensions.Logging;

namespace DataflowProducer.Hosting;

/// <summary>Every log line of the hosting layer. EventIds are stable.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 3001, EventName = "ShutdownDrainStarted", Level = LogLevel.Information, Message = "Producer block '{Name}': host is stopping, draining.")]
    public static partial void ShutdownDrainStarted(ILogger logger, string name);

    [LoggerMessage(EventId = 3002, EventName = "ShutdownDrainCompleted", Level = LogLevel.Information, Message = "Producer block '{Name}' drained: {Accepted} accepted, {Delivered} delivered, {Failed} failed, {Abandoned} abandoned.")]
    public static partial void ShutdownDrainCompleted(ILogger logger, string name, long accepted, long delivered, long failed, long abandoned);

    [LoggerMessage(EventId = 3003, EventName = "ShutdownDrainIncomplete", Level = LogLevel.Error, Message = "Producer block '{Name}' did not deliver everything before shutdown: {Accepted} accepted, {Delivered} delivered, {Failed} failed, {Abandoned} abandoned (handed to the ItemsAbandoned callback).")]
    public static partial void ShutdownDrainIncomplete(ILogger logger, Exception? error, string name, long accepted, long delivered, long failed, long abandoned);

    [LoggerMessage(EventId = 3004, EventName = "ShutdownTimeoutReached", Level = LogLevel.Warning, Message = "Producer block '{Name}': the host's shutdown timeout was reached during the drain; aborting.")]
    public static partial void ShutdownTimeoutReached(ILogger logger, string name);
}
