using System.Diagnostics.Metrics;
using DataflowProducer.Diagnostics;
using DataflowProducer.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace DataflowProducer.Hosting;

/// <summary>Owns one named producer block for the host's lifetime: creates it on first use (or at start), and drains
/// it when the host stops.</summary>
/// <remarks>The drain runs in <see cref="StoppedAsync"/>, after every hosted service's <c>StopAsync</c>, so the
/// services that post have stopped posting whatever order they were registered in. Order: stop what posts, then
/// <c>Complete()</c>, drain (the final batch, then every outstanding delivery), flush, dispose the producer. If the
/// host's shutdown token fires first, the block is aborted: what is left is abandoned, handed to the registered
/// <c>ItemsAbandoned</c> callback, and logged with the counts.</remarks>
internal sealed class KafkaProducerBlockHost<TKey, TValue> : IHostedLifecycleService
{
    private readonly Lazy<BatchProducerBlock<KafkaRecord<TKey, TValue>>> _block;
    private readonly string _name;
    private readonly ILogger _logger;
    private readonly EnsureTopicOptions? _ensureTopic;
    private readonly Func<Confluent.Kafka.ProducerConfig> _producerConfig;
    private readonly ILoggerFactory? _loggerFactory;

    public KafkaProducerBlockHost(string name, KafkaProducerBlockOptions options, BatchProducerCallbacks<KafkaRecord<TKey, TValue>>? callbacks, ILoggerFactory? loggerFactory, TimeProvider timeProvider, IMeterFactory? meterFactory)
    {
        _name = name;
        // The host's logger is user code like any other: one that throws must not stop the drain at shutdown.
        _logger = GuardedLogger.Create(loggerFactory, "DataflowProducer.Hosting.KafkaProducerBlockHost");
        _ensureTopic = options.ToEnsureTopicOptions(timeProvider);
        _producerConfig = options.ToProducerConfig;
        _loggerFactory = loggerFactory;
        _block = new Lazy<BatchProducerBlock<KafkaRecord<TKey, TValue>>>(
            () => KafkaProducerBlock.Create(options.ToProducerConfig(), options.ToSinkOptions<TKey, TValue>(), options.ToBatchProducerOptions(timeProvider, name, meterFactory), callbacks, loggerFactory),
            LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public BatchProducerBlock<KafkaRecord<TKey, TValue>> Block => _block.Value;

    /// <summary>Ensures the topic, when asked to, before any hosted service's <c>StartAsync</c> (which is where services
    /// start posting). Asynchronous and bounded by <see cref="EnsureTopicOptions.Timeout"/>: building the container
    /// never waits for a broker, and a broker that refuses or does not answer stops the host's start with a
    /// <see cref="KafkaTopicException"/> naming the topic, the setting and the broker's error.</summary>
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        if (_ensureTopic is not null)
        {
            await KafkaTopics.EnsureAsync(_producerConfig(), _ensureTopic, GuardedLogger.Create(_loggerFactory, "DataflowProducer.Kafka.KafkaTopics"), cancellationToken).ConfigureAwait(false);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Build it now so a configuration the client rejects stops the host at start, not at first use.
        _ = _block.Value;
        return Task.CompletedTask;
    }

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        if (!_block.IsValueCreated)
        {
            return;
        }

        BatchProducerBlock<KafkaRecord<TKey, TValue>> block = _block.Value;
        Log.ShutdownDrainStarted(_logger, _name);
        block.Complete();
        try
        {
            await block.Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log.ShutdownTimeoutReached(_logger, _name);
            ((System.Threading.Tasks.Dataflow.IDataflowBlock)block).Fault(new OperationCanceledException("The host's shutdown timeout was reached before the producer block drained."));
        }
        catch (Exception)
        {
            // Reported below from the statistics; the block itself logged each failure.
        }

        try
        {
            // After an abort the block settles at once (it does not wait for the sink again).
            await block.Completion.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            BatchProducerStatistics failed = block.GetStatistics();
            Log.ShutdownDrainIncomplete(_logger, ex, _name, failed.Accepted, failed.Delivered, failed.Failed, failed.Abandoned);
            return;
        }

        BatchProducerStatistics s = block.GetStatistics();
        Log.ShutdownDrainCompleted(_logger, _name, s.Accepted, s.Delivered, s.Failed, s.Abandoned);
    }
}
