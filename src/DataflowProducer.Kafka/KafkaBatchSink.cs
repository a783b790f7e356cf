using System.Collections.Concurrent;
using Confluent.Kafka;
using GuardedLogger = DataflowProducer.Diagnostics.GuardedLogger;
using DataflowProducer.Kafka.Diagnostics;
using DataflowProducer.Kafka.Internal;
using Microsoft.Extensions.Logging;

namespace DataflowProducer.Kafka;

/// <summary>
/// An <see cref="IBatchSink{T}"/> that produces to Kafka through Confluent.Kafka: each message with
/// <c>Produce</c> and a delivery handler (never one awaited <c>ProduceAsync</c> per message), one acknowledgement per
/// batch, waiting instead of dropping when the client's queue is full.
/// </summary>
/// <typeparam name="TKey">The key type.</typeparam>
/// <typeparam name="TValue">The value type.</typeparam>
/// <remarks>
/// <para>
/// Every message gets exactly one outcome: delivered (with a <see cref="DeliveryReceipt"/> when
/// <see cref="KafkaSinkOptions{TKey, TValue}.DeliveryReceipts"/> is on); failed with its error (a serializer that
/// throws, a message too large, no topic, a delivery error); not sent, when the pipeline was aborted before the message
/// was handed to the client (for example while waiting for room in its full queue); or unknown, when it was handed to
/// the client and <see cref="FlushAsync"/> gave up waiting for its report. A client
/// queue that is full (<c>Local_QueueFull</c>) is never a failure: the sink waits for a delivery report to free room,
/// then retries the same message, keeping order. A null record, or any single record the client or a serializer
/// refuses, fails alone; a serializer's cancellation (an HTTP timeout inside a Schema Registry call) is that record's
/// failure too.
/// </para>
/// <para>
/// A fatal client error (<see cref="Error.IsFatal"/>, from the error handler or a delivery report; for example a fatal
/// idempotent-producer error) fails fast: the messages whose reports carry it fail with it, nothing more is handed to
/// the client, and the next <see cref="AcceptAsync"/> (or the flush, if no batch follows) throws a
/// <see cref="KafkaException"/> with that error, so the pipeline stops and hands back what it never sent. A client
/// whose <c>Produce</c> throws something other than a Kafka or argument error is treated the same way.
/// </para>
/// <para>
/// Built from a <see cref="ProducerConfig"/>, the sink owns its producer (disposing the sink disposes it) and turns
/// idempotence on unless the configuration says otherwise (or targets a broker too old for it). Built over an
/// existing <see cref="IProducer{TKey, TValue}"/>, it never disposes it.
/// </para>
/// </remarks>
public sealed partial class KafkaBatchSink<TKey, TValue> : IBatchSink<KafkaRecord<TKey, TValue>>, IAsyncDisposable, IDisposable
{
    // How the sink produces: typed messages, or bytes it serialized itself (KafkaBatchSink.Modes.cs).
    private readonly ProduceMode _mode;
    private readonly bool _ownsProducer;
    private readonly KafkaSinkOptions<TKey, TValue> _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly RoomSignal _room = new();
    private readonly ConcurrentDictionary<BatchTracker, byte> _outstanding = new();

    // The single bootstrap server, for server.address/server.port; known only when the sink builds its producer.
    private readonly (string Address, int? Port)? _server;
    private int _disposed;
    private string? _checkedTopic;

    // Set once, by the first fatal client error (or a Produce that breaks); read before each message and batch.
    private Exception? _broken;

    /// <summary>Initializes a sink over an existing producer, which it does not own.</summary>
    /// <param name="producer">The producer; its serializers must be synchronous.</param>
    /// <param name="options">The options; copied. Serializer options are ignored: the producer has its own.</param>
    /// <param name="logger">The logger; null for none.</param>
    /// <param name="timeProvider">The clock for queue-full waits; null for <see cref="TimeProvider.System"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="producer"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public KafkaBatchSink(IProducer<TKey, TValue> producer, KafkaSinkOptions<TKey, TValue>? options = null, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(producer);
        _options = Validate(options);
        _mode = new TypedMode(producer);
        _logger = GuardedLogger.Wrap(logger);
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    // Internal for tests: the serializing path (async serializers, a bytes producer) over a producer the sink does not own.
    internal KafkaBatchSink(IProducer<byte[]?, byte[]?> producer, IAsyncSerializer<TKey> keySerializer, IAsyncSerializer<TValue> valueSerializer, KafkaSinkOptions<TKey, TValue>? options = null, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        _options = Validate(options);
        _mode = new SerializingMode(producer, keySerializer, valueSerializer);
        _logger = GuardedLogger.Wrap(logger);
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Initializes a sink that builds and owns its producer.</summary>
    /// <param name="config">The client configuration, taken as it is (copied), except that idempotence is turned on
    /// when the configuration does not set <c>enable.idempotence</c> and does not target a broker older than 0.11.</param>
    /// <param name="options">The options, with the serializers; copied.</param>
    /// <param name="logger">The logger for the sink and the client's own log; null for none. Configuration values are never logged.</param>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> is null.</exception>
    /// <exception cref="ArgumentException">The configuration is rejected by the client (the message names the setting),
    /// or a key or value type has no default serializer.</exception>
    public KafkaBatchSink(ProducerConfig config, KafkaSinkOptions<TKey, TValue>? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        _options = Validate(options);
        _logger = GuardedLogger.Wrap(logger);
        _timeProvider = TimeProvider.System;
        _ownsProducer = true;

        ProducerConfig effective = WithDefaults(config);
        _server = SingleServer(effective.BootstrapServers);
        if (_options.AsyncKeySerializer is not null || _options.AsyncValueSerializer is not null)
        {
            IAsyncSerializer<TKey> keySerializer = _options.AsyncKeySerializer ?? AsAsync(_options.KeySerializer ?? DefaultSerializers.For<TKey>("key"));
            IAsyncSerializer<TValue> valueSerializer = _options.AsyncValueSerializer ?? AsAsync(_options.ValueSerializer ?? DefaultSerializers.For<TValue>("value"));
            _mode = new SerializingMode(Build(Configure(new ProducerBuilder<byte[]?, byte[]?>(effective)), effective), keySerializer, valueSerializer);
        }
        else
        {
            var builder = Configure(new ProducerBuilder<TKey, TValue>(effective));
            if (_options.KeySerializer is not null)
            {
                builder.SetKeySerializer(_options.KeySerializer);
            }

            if (_options.ValueSerializer is not null)
            {
                builder.SetValueSerializer(_options.ValueSerializer);
            }

            _mode = new TypedMode(Build(builder, effective));
        }

        try
        {
            Log.ProducerCreated(_logger, effective.BootstrapServers, effective.EnableIdempotence);
        }
        catch
        {
            // The producer runs threads and holds connections: nothing that fails after it exists may leak it.
            _mode.Dispose();
            throw;
        }
    }

    // Internal for tests: the client the sink produces through (its own, or the one it was given).
    internal IClient Client => _mode.Client;

    /// <summary>Gets the underlying producer's name, for diagnostics.</summary>
    public string Name => _mode.Client.Name;

    /// <inheritdoc />
    public ValueTask<Task<BatchResult>> AcceptAsync(ReadOnlyMemory<KafkaRecord<TKey, TValue>> batch, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Volatile.Read(ref _broken) is { } broken)
        {
            // Fail fast after a fatal client error: the pipeline aborts and hands back what it never sent.
            return ValueTask.FromException<Task<BatchResult>>(broken);
        }

        var tracker = new BatchTracker(batch.Length, _options.DeliveryReceipts || ReceiptsForOutcomes);
        _outstanding.TryAdd(tracker, 0);
        _ = tracker.Acknowledgement.ContinueWith(
            static (_, state) =>
            {
                var (sink, t) = ((KafkaBatchSink<TKey, TValue>, BatchTracker))state!;
                sink._outstanding.TryRemove(t, out byte _);
            },
            (this, tracker),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

        return _mode is SerializingMode serializing
            ? SerializeThenProduceAsync(batch, serializing, tracker, cancellationToken)
            : ProduceAllAsync(batch, serialized: null, tracker, cancellationToken);
    }

    // What the constructor that builds its producer refuses about the options, checked without building anything:
    // for a caller that must fail before it contacts a broker.
    internal static void CheckOptions(KafkaSinkOptions<TKey, TValue>? options)
    {
        KafkaSinkOptions<TKey, TValue> valid = Validate(options);
        if (valid is { KeySerializer: null, AsyncKeySerializer: null })
        {
            _ = DefaultSerializers.For<TKey>("key");
        }

        if (valid is { ValueSerializer: null, AsyncValueSerializer: null })
        {
            _ = DefaultSerializers.For<TValue>("value");
        }
    }

    private static KafkaSinkOptions<TKey, TValue> Validate(KafkaSinkOptions<TKey, TValue>? options)
    {
        options = (options ?? new KafkaSinkOptions<TKey, TValue>()).Clone();
        if (options.QueueFullRetryInterval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.QueueFullRetryInterval, $"KafkaSinkOptions.QueueFullRetryInterval must be greater than zero, but was {options.QueueFullRetryInterval}.");
        }

        if (options.DefaultTopic is { Length: 0 })
        {
            throw new ArgumentException("KafkaSinkOptions.DefaultTopic must be null or a topic name, but was an empty string.", nameof(options));
        }

        if (options.DefaultTopic is { } topic && !KafkaTopicName.IsValid(topic, out string? problem))
        {
            throw new ArgumentException($"KafkaSinkOptions.DefaultTopic must be a legal Kafka topic name, but '{topic}' is not: {problem}.", nameof(options));
        }

        return options;
    }
}
