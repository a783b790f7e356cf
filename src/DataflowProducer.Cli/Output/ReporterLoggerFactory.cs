using Microsoft.Extensions.Logging;

namespace DataflowProducer.Cli.Output;

/// <summary>Routes the library's warnings and errors to standard error. Per-item failures and abandonments are
/// left out: the tool reports those itself, with a cap, and counts them in the summary.</summary>
internal sealed class ReporterLoggerFactory(Reporter reporter) : ILoggerFactory
{
    // DataflowProducer's stable EventIds the tool reports in its own words.
    private const int ItemFailedEventId = 1003;
    private const int ItemsAbandonedEventId = 1007;

    public ILogger CreateLogger(string categoryName) => new ReporterLogger(reporter);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class ReporterLogger(Reporter reporter) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel) || eventId.Id is ItemFailedEventId or ItemsAbandonedEventId)
            {
                return;
            }

            string text = formatter(state, exception).TrimEnd();
            if (exception is not null)
            {
                // The library's messages do not all end with a full stop; the exception's is a sentence of its own.
                text += (text.Length == 0 || text[^1] is '.' or ':' or '!' or '?' ? " " : ". ") + exception.Message;
            }

            reporter.Line($"{(logLevel >= LogLevel.Error ? "error" : "warning")}: {text}");
        }
    }
}
