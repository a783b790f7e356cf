using Microsoft.Extensions.Logging;

namespace DataflowProducer.Benchmarks.Contenders;

/// <summary>Counts the Kafka sink's queue-full waits (its debug event 2001), for the benchmark's breakdown.</summary>
public sealed class QueueFullCounter : ILogger
{
    private long _waits;

    public long Waits => Interlocked.Read(ref _waits);

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (eventId.Id == 2001)
        {
            Interlocked.Increment(ref _waits);
        }
    }
}
