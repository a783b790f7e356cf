using Microsoft.Extensions.Logging;

namespace DataflowProducer.Kafka.Tests.TestSupport;

/// <summary>How a <see cref="HostileLoggerFactory"/> misbehaves.</summary>
public enum LoggerHostility
{
    /// <summary><c>CreateLogger</c> throws.</summary>
    CreateLoggerThrows,

    /// <summary>Every call of every logger throws (<c>IsEnabled</c>, <c>Log</c>, <c>BeginScope</c>).</summary>
    AlwaysThrows,

    /// <summary><c>Log</c> throws at Warning and above; the rest works.</summary>
    ThrowsAtWarningAndAbove,

    /// <summary><c>Log</c> throws for one event name only.</summary>
    ThrowsInOneEvent,
}

/// <summary>A logger factory, and loggers, that throw as Microsoft.Extensions.Logging does for a broken provider (an
/// <see cref="AggregateException"/>). Counts the calls that threw, so a test can tell it was exercised.</summary>
internal sealed class HostileLoggerFactory(LoggerHostility hostility, string? eventName = null) : ILoggerFactory
{
    private int _throws;

    public int Throws => Volatile.Read(ref _throws);

    public ILogger CreateLogger(string categoryName)
    {
        if (hostility == LoggerHostility.CreateLoggerThrows)
        {
            Throw();
        }

        return new HostileLogger(this);
    }

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

    public void Dispose()
    {
    }

    private void Throw()
    {
        Interlocked.Increment(ref _throws);
        throw new AggregateException("An error occurred while writing to logger(s).", new InvalidOperationException("the log provider is broken"));
    }

    private sealed class HostileLogger(HostileLoggerFactory factory) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull
        {
            if (factory.IsAlways)
            {
                factory.Throw();
            }

            return null;
        }

        public bool IsEnabled(LogLevel logLevel)
        {
            if (factory.IsAlways)
            {
                factory.Throw();
            }

            return true;
        }

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            bool fails = factory.Hostility switch
            {
                LoggerHostility.AlwaysThrows => true,
                LoggerHostility.ThrowsAtWarningAndAbove => logLevel >= LogLevel.Warning,
                LoggerHostility.ThrowsInOneEvent => eventId.Name == factory.EventName,
                _ => false,
            };
            if (fails)
            {
                factory.Throw();
            }

            _ = formatter(state, exception);
        }
    }

    private bool IsAlways => hostility == LoggerHostility.AlwaysThrows;

    private LoggerHostility Hostility => hostility;

    private string? EventName => eventName;
}
