using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DataflowProducer.Diagnostics;

/// <summary>
/// Wraps the user's logger so that nothing it throws reaches the pipeline.
/// </summary>
/// <remarks>
/// A logger is user code: a provider that throws (Microsoft.Extensions.Logging surfaces a throwing provider as an
/// <see cref="AggregateException"/>) must not stall a drain, throw out of <c>Complete()</c> or kill the process from a
/// timer callback. A log line is never worth an item, so a throwing logger loses that line and nothing else. There is
/// nowhere left to report the failure; the count is kept so tests and a debugger can see it.
/// </remarks>
internal sealed class GuardedLogger : ILogger
{
    private readonly ILogger _inner;
    private long _failures;

    private GuardedLogger(ILogger inner) => _inner = inner;

    /// <summary>How many calls into the inner logger threw.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Returns a logger that never throws: <see cref="NullLogger.Instance"/> for null, the same one if it
    /// is already guarded, otherwise a guard around it.</summary>
    public static ILogger Wrap(ILogger? logger) => logger switch
    {
        null => NullLogger.Instance,
        NullLogger => logger,
        GuardedLogger => logger,
        _ => new GuardedLogger(logger),
    };

    /// <summary>Creates a logger from a factory without letting the factory throw; a throwing factory yields no
    /// logger rather than an error.</summary>
    public static ILogger Create(ILoggerFactory? factory, string categoryName)
    {
        if (factory is null)
        {
            return NullLogger.Instance;
        }

        try
        {
            return Wrap(factory.CreateLogger(categoryName));
        }
        catch (Exception)
        {
            return NullLogger.Instance;
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull
    {
        try
        {
            return _inner.BeginScope(state);
        }
        catch (Exception)
        {
            Interlocked.Increment(ref _failures);
            return null;
        }
    }

    public bool IsEnabled(LogLevel logLevel)
    {
        try
        {
            return _inner.IsEnabled(logLevel);
        }
        catch (Exception)
        {
            Interlocked.Increment(ref _failures);
            return false;
        }
    }

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        try
        {
            _inner.Log(logLevel, eventId, state, exception, formatter);
        }
        catch (Exception)
        {
            Interlocked.Increment(ref _failures);
        }
    }
}
