using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace DataflowProducer.Kafka.Tests.TestSupport;

/// <summary>Hands out <see cref="FakeLogger"/>s that all write to one collector.</summary>
internal sealed class FakeLoggerFactory(FakeLogCollector collector) : ILoggerFactory
{
    public FakeLogCollector Collector { get; } = collector;

    public ILogger CreateLogger(string categoryName) => new FakeLogger(Collector, categoryName);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

    public void Dispose()
    {
    }
}
