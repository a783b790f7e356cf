using System.Globalization;
using Confluent.Kafka;
using DataflowProducer.Diagnostics;
using Microsoft.Extensions.Logging;

namespace DataflowProducer.Kafka;

/// <summary>One call to get a Kafka producer block: a <see cref="BatchProducerBlock{T}"/> over a
/// <see cref="KafkaBatchSink{TKey, TValue}"/>.</summary>
public static class KafkaProducerBlock
{
    /// <summary>Creates a producer block that builds and owns its Kafka producer; the producer is disposed when the
    /// block's completion has run (after the final batch, the outstanding deliveries and the flush).</summary>
    /// <typeparam name="TKey">The key type.</typeparam>
    /// <typeparam name="TValue">The value type.</typeparam>
    /// <param name="config">The client configuration (see <see cref="KafkaBatchSink{TKey, TValue}(ProducerConfig, KafkaSinkOptions{TKey, TValue}?, ILogger?)"/>).</param>
    /// <param name="sinkOptions">The default topic and serializers; null for the defaults.</param>
    /// <param name="options">Batching, capacity, in-flight window, drain timeout and failure policy; null for the defaults.</param>
    /// <param name="callbacks">Where failed and abandoned records are handed back; null to rely on the completion exception.</param>
    /// <param name="loggerFactory">Creates the loggers of the block and the sink; null for none.</param>
    /// <returns>The block: post or link records to it, then <c>Complete()</c> and await its <c>Completion</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentException">An option or the configuration is invalid; the message names it.</exception>
    public static BatchProducerBlock<KafkaRecord<TKey, TValue>> Create<TKey, TValue>(
        ProducerConfig config,
        KafkaSinkOptions<TKey, TValue>? sinkOptions = null,
        BatchProducerOptions? options = null,
        BatchProducerCallbacks<KafkaRecord<TKey, TValue>>? callbacks = null,
        ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ValidateFirst(options);

        // The loggers are user code: guarded, so that neither the factory nor a logger can throw out of here, and
        // above all not after the producer (its threads and connections) exists.
        var sink = new KafkaBatchSink<TKey, TValue>(config, sinkOptions, SinkLogger(loggerFactory)) { DisposeWithPipeline = true, ReceiptsForOutcomes = options?.EmitOutcomes == true };
        try
        {
            return new BatchProducerBlock<KafkaRecord<TKey, TValue>>(sink, options, callbacks, BlockLogger(loggerFactory));
        }
        catch
        {
            // A bad option is already an ArgumentException naming it; whatever it is, the producer must not outlive it.
            sink.Dispose();
            throw;
        }
    }

    /// <summary>Ensures the topic (see <see cref="KafkaTopics"/>), then creates a producer block that builds and owns
    /// its Kafka producer, as <see cref="Create{TKey, TValue}(ProducerConfig, KafkaSinkOptions{TKey, TValue}?, BatchProducerOptions?, BatchProducerCallbacks{KafkaRecord{TKey, TValue}}?, ILoggerFactory?)"/>
    /// does. Nothing is started when ensuring fails.</summary>
    /// <typeparam name="TKey">The key type.</typeparam>
    /// <typeparam name="TValue">The value type.</typeparam>
    /// <param name="config">The client configuration; the topic is ensured through an admin client built from it.</param>
    /// <param name="ensureTopic">The topic to ensure; its <see cref="EnsureTopicOptions.Topic"/> defaults to
    /// <paramref name="sinkOptions"/>' <see cref="KafkaSinkOptions{TKey, TValue}.DefaultTopic"/>.</param>
    /// <param name="sinkOptions">The default topic and serializers; null for the defaults.</param>
    /// <param name="options">Batching, capacity, in-flight window, drain timeout and failure policy; null for the defaults.</param>
    /// <param name="callbacks">Where failed and abandoned records are handed back; null to rely on the completion exception.</param>
    /// <param name="loggerFactory">Creates the loggers of the block, the sink and the topic check; null for none.</param>
    /// <param name="cancellationToken">Stops waiting for the topic to be ensured.</param>
    /// <returns>The block.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> or <paramref name="ensureTopic"/> is null.</exception>
    /// <exception cref="ArgumentException">An option or the configuration is invalid, or no topic is named; the message names it.</exception>
    /// <exception cref="KafkaTopicException">The topic could not be ensured: the broker refused (the message names its
    /// error), was not reached within <see cref="EnsureTopicOptions.Timeout"/>, or the topic has fewer partitions than asked.</exception>
    public static async Task<BatchProducerBlock<KafkaRecord<TKey, TValue>>> CreateAsync<TKey, TValue>(
        ProducerConfig config,
        EnsureTopicOptions ensureTopic,
        KafkaSinkOptions<TKey, TValue>? sinkOptions = null,
        BatchProducerOptions? options = null,
        BatchProducerCallbacks<KafkaRecord<TKey, TValue>>? callbacks = null,
        ILoggerFactory? loggerFactory = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        EnsureTopicOptions topic = KafkaTopics.Validated(ensureTopic, sinkOptions?.DefaultTopic);
        ValidateFirst(options);
        ValidateItemSize<TKey, TValue>(options);
        KafkaBatchSink<TKey, TValue>.CheckOptions(sinkOptions);
        await KafkaTopics.EnsureAsync(config, topic, GuardedLogger.Create(loggerFactory, KafkaTopics.LoggerCategory), cancellationToken).ConfigureAwait(false);
        return Create(config, sinkOptions, options, callbacks, loggerFactory);
    }

    /// <summary>Creates a producer block over an existing producer, which the block never disposes.</summary>
    /// <typeparam name="TKey">The key type.</typeparam>
    /// <typeparam name="TValue">The value type.</typeparam>
    /// <param name="producer">The producer; its serializers must be synchronous.</param>
    /// <param name="sinkOptions">The default topic; null for none (every record then names its topic).</param>
    /// <param name="options">Batching, capacity, in-flight window, drain timeout and failure policy; null for the defaults.</param>
    /// <param name="callbacks">Where failed and abandoned records are handed back; null to rely on the completion exception.</param>
    /// <param name="loggerFactory">Creates the loggers of the block and the sink; null for none.</param>
    /// <returns>The block.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="producer"/> is null.</exception>
    /// <exception cref="ArgumentException">An option is invalid; the message names it.</exception>
    public static BatchProducerBlock<KafkaRecord<TKey, TValue>> Create<TKey, TValue>(
        IProducer<TKey, TValue> producer,
        KafkaSinkOptions<TKey, TValue>? sinkOptions = null,
        BatchProducerOptions? options = null,
        BatchProducerCallbacks<KafkaRecord<TKey, TValue>>? callbacks = null,
        ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(producer);
        var sink = new KafkaBatchSink<TKey, TValue>(producer, sinkOptions, SinkLogger(loggerFactory), options?.TimeProvider) { ReceiptsForOutcomes = options?.EmitOutcomes == true };
        return new BatchProducerBlock<KafkaRecord<TKey, TValue>>(sink, options, callbacks, BlockLogger(loggerFactory));
    }

    private static ILogger SinkLogger(ILoggerFactory? loggerFactory) => GuardedLogger.Create(loggerFactory, Category(typeof(KafkaBatchSink<,>)));

    private static ILogger BlockLogger(ILoggerFactory? loggerFactory) => GuardedLogger.Create(loggerFactory, Category(typeof(BatchProducerBlock<>)));

    // The category ILoggerFactory.CreateLogger<T>() gives a generic type: its full name without the arity.
    private static string Category(Type genericType)
    {
        string name = genericType.FullName!;
        int arity = name.IndexOf('`', StringComparison.Ordinal);
        return arity < 0 ? name : name[..arity];
    }

    // Bad pipeline options must fail before a producer (and its threads and connections) is started.
    // What the block's constructor would refuse about measuring records, before the topic is touched: a bytes setting
    // with no ItemSize for key and value types the Kafka sink cannot measure.
    private static void ValidateItemSize<TKey, TValue>(BatchProducerOptions? options)
    {
        if (options is { ItemSize: null } && (options.BoundedBytes != -1 || options.MaxBatchBytes != -1) && Internal.KafkaRecordSize<TKey, TValue>.For is null)
        {
            throw new ArgumentNullException(
                nameof(options),
                string.Create(CultureInfo.InvariantCulture, $"BatchProducerOptions.ItemSize must be set when BoundedBytes ({options.BoundedBytes}) or MaxBatchBytes ({options.MaxBatchBytes}) is set: the Kafka sink cannot measure records of {typeof(TKey).Name} keys and {typeof(TValue).Name} values, but was null."));
        }
    }

    private static void ValidateFirst(BatchProducerOptions? options)
    {
        if (options?.Validate() is [string first, ..])
        {
            throw new ArgumentException(first, nameof(options));
        }
    }
}
