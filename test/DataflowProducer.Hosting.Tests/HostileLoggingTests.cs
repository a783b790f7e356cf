using System.Threading.Tasks.Dataflow;
using DataflowProducer.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DataflowProducer.Hosting.Tests;

/// <summary>A logging provider that throws never stops a registered block from starting, draining or stopping.</summary>
public class HostileLoggingTests
{
    [TestCase(LogLevel.Trace)]
    [TestCase(LogLevel.Warning)]
    [CancelAfter(30_000)]
    public async Task StopAsync_LoggingProviderThatThrows_BlockStartsDrainsAndStops(LogLevel throwsFrom, CancellationToken ct)
    {
        var provider = new ThrowingProvider(throwsFrom);
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddProvider(provider);
        builder.Services.AddKafkaProducerBlock<string, string>("orders", o =>
        {
            o.DefaultTopic = "orders";
            o.DrainTimeout = TimeSpan.FromSeconds(5);
            o.Producer["bootstrap.servers"] = "127.0.0.1:1";
        });

        using IHost host = builder.Build();
        await host.StartAsync(ct);
        var block = host.Services.GetRequiredKeyedService<ITargetBlock<KafkaRecord<string, string>>>("orders");
        await host.StopAsync(ct);
        await block.Completion.WaitAsync(ct);

        Assert.That(provider.Throws, Is.GreaterThan(0), "the provider was never hostile: the test proves nothing");
    }

    private sealed class ThrowingProvider(LogLevel throwsFrom) : ILoggerProvider
    {
        private int _throws;

        public int Throws => Volatile.Read(ref _throws);

        public ILogger CreateLogger(string categoryName) => new ThrowingLogger(this);

        public void Dispose()
        {
        }

        private sealed class ThrowingLogger(ThrowingProvider provider) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (logLevel >= provider._throwsFrom && eventId.Id is >= 1000 and < 4000)
                {
                    Interlocked.Increment(ref provider._throws);
                    throw new InvalidOperationException("the log provider is broken");
                }
            }
        }

        private readonly LogLevel _throwsFrom = throwsFrom;
    }
}
