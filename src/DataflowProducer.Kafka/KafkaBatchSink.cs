using System.Collections.Concurrent;
using Confluent.Kafka;
using DataflowProducer.Kafka.Diagnostics;
using DataflowProducer.Kafka.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

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
/// Every message gets exactly one outcome: delivered; failed with its error (a serializer that throws, a message
/// too large, no topic, a delivery error); or, after <see cref="FlushAsync"/> gave up waiting, abandoned. A client
/// queue that is full (<c>Local_QueueFull</c>) is never a failure: the sink waits for a delivery report to free room,
/// then retries the same message, keeping order.
/// </para>
/// <para>
/// Built from a <see cref="ProducerConfig"/>, the sink owns its producer (disposing the sink disposes it) and turns
/// idempotence on unless the configuration says otherwise (or targets a broker too old for it). Built over an
/// existing <see cref="IProducer{TKey, TValue}"/>, it never disposes it.
/// </para>
/// </remarks>
public sealed class KafkaBatchSink<TKey, TValue> : IBatchSink<KafkaRecord<TKey, TValue>>, IAsyncDisposable, IDisposable
{
    private readonly IProducer<TKey, TValue>? _producer;
    private readonly IProducer<byte[]?, byte[]?>? _bytesProducer;
    private readonly IAsyncSerializer<TKey>? _keySerializer;
    private readonly IAsyncSerializer<TValue>? _valueSerializer;
    private readonly bool _ownsProducer;
    private readonly KafkaSinkOptions<TKey, TValue> _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly RoomSignal _room = new();
    private readonly ConcurrentDictionary<BatchTracker, byte> _outstanding = new();
    private int _disposed;
    private string? _checkedTopic;

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
        _producer = producer;
        _logger = logger ?? NullLogger.Instance;
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
        _logger = logger ?? NullLogger.Instance;
        _timeProvider = TimeProvider.System;
        _ownsProducer = true;

        ProducerConfig effective = WithDefaults(config);
        try
        {
            if (_options.AsyncKeySerializer is not null || _options.AsyncValueSerializer is not null)
            {
                _keySerializer = _options.AsyncKeySerializer ?? AsAsync(_options.KeySerializer ?? DefaultSerializers.For<TKey>("key"));
                _valueSerializer = _options.AsyncValueSerializer ?? AsAsync(_options.ValueSerializer ?? DefaultSerializers.For<TValue>("value"));
                _bytesProducer = Configure(new ProducerBuilder<byte[]?, byte[]?>(effective)).Build();
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

                _producer = builder.Build();
            }
        }
        catch (InvalidOperationException ex)
        {
            // Confluent reports an unknown property as InvalidOperationException (a bad value is already an
            // ArgumentException); both are bad configuration, so both surface as ArgumentException.
            throw new ArgumentException($"The producer configuration was rejected: {ex.Message}", nameof(config), ex);
        }

        Log.ProducerCreated(_logger, effective.BootstrapServers, effective.EnableIdempotence);
    }

    // Internal for tests: the client the sink produces through (its own, or the one it was given).
    internal IClient Client => (IClient?)_producer ?? _bytesProducer!;

    /// <summary>Gets the underlying producer's name, for diagnostics.</summary>
    public string Name => _producer?.Name ?? _bytesProducer!.Name;

    /// <inheritdoc />
    public ValueTask<Task<BatchResult>> AcceptAsync(ReadOnlyMemory<KafkaRecord<TKey, TValue>> batch, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var tracker = new BatchTracker(batch.Length);
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

        return _bytesProducer is null
            ? ProduceAllAsync(batch, serialized: null, tracker, cancellationToken)
            : SerializeThenProduceAsync(batch, tracker, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>Runs the client's blocking <c>Flush</c> on a dedicated thread, so the thread pool is never blocked.
    /// Messages whose outcome is still unknown afterwards are reported abandoned in their batch's result.</remarks>
    public async Task FlushAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        Log.FlushStarted(_logger, timeout);
        int left = 0;
        try
        {
            left = await Task.Factory.StartNew(
                () =>
                {
                    if (timeout == Timeout.InfiniteTimeSpan)
                    {
                        FlushProducer(cancellationToken);
                        return 0;
                    }

                    return FlushProducer(timeout);
                },
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default).ConfigureAwait(false);
        }
        finally
        {
            foreach (BatchTracker tracker in _outstanding.Keys)
            {
                tracker.AbandonUnsettled();
            }
        }

        if (left > 0)
        {
            Log.FlushLeftMessages(_logger, left);
        }
    }

    /// <summary>Disposes the producer if the sink built it. Does not flush: the pipeline flushes before.</summary>
    /// <returns>A task that completes when the producer is disposed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0 || !_ownsProducer)
        {
            return;
        }

        // The client's Dispose can block while it tears down its threads; keep it off the caller's thread.
        await Task.Factory.StartNew(DisposeProducer, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
    }

    /// <summary>Disposes the producer if the sink built it.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0 || !_ownsProducer)
        {
            return;
        }

        DisposeProducer();
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

        if (options.DefaultTopic is { } topic && TopicName.Problem(topic) is { } problem)
        {
            throw new ArgumentException($"KafkaSinkOptions.DefaultTopic must be a legal Kafka topic name, but '{topic}' is not: {problem}.", nameof(options));
        }

        return options;
    }

    // Internal for tests: what the sink makes of a configuration before it builds its producer.
    internal static ProducerConfig WithDefaults(ProducerConfig config)
    {
        var copy = new ProducerConfig(config.ToDictionary(static kv => kv.Key, static kv => kv.Value));
        if (copy.EnableIdempotence is null && !TargetsPreIdempotenceBroker(copy))
        {
            copy.EnableIdempotence = true;
        }

        return copy;
    }

    // Idempotence needs InitProducerId (Kafka 0.11+). A configuration that disables version discovery and falls back
    // to an older protocol would make the producer fail at start, so it is left as the user configured it.
    private static bool TargetsPreIdempotenceBroker(ProducerConfig config)
    {
        if (config.ApiVersionRequest != false || config.BrokerVersionFallback is not { } fallback)
        {
            return false;
        }

        return Version.TryParse(fallback, out Version? version) && version < new Version(0, 11);
    }

    private static SyncSerializerAdapter<T> AsAsync<T>(ISerializer<T> serializer) => new SyncSerializerAdapter<T>(serializer);

    private ProducerBuilder<TK, TV> Configure<TK, TV>(ProducerBuilder<TK, TV> builder) =>
        builder
            .SetErrorHandler((_, error) => Log.ClientError(_logger, error.Code, error.IsFatal, error.Reason))
            .SetLogHandler((_, message) => Log.ClientLog(_logger, message.Facility, message.Message));

    private int FlushProducer(TimeSpan timeout) => _producer?.Flush(timeout) ?? _bytesProducer!.Flush(timeout);

    private void FlushProducer(CancellationToken cancellationToken)
    {
        if (_producer is not null)
        {
            _producer.Flush(cancellationToken);
        }
        else
        {
            _bytesProducer!.Flush(cancellationToken);
        }
    }

    private void DisposeProducer()
    {
        _producer?.Dispose();
        _bytesProducer?.Dispose();
    }

    private async ValueTask<Task<BatchResult>> SerializeThenProduceAsync(ReadOnlyMemory<KafkaRecord<TKey, TValue>> batch, BatchTracker tracker, CancellationToken cancellationToken)
    {
        var serialized = new Message<byte[]?, byte[]?>?[batch.Length];
        for (int i = 0; i < batch.Length; i++)
        {
            KafkaRecord<TKey, TValue> record = batch.Span[i];
            string? topic = record.Topic ?? _options.DefaultTopic;
            if (topic is null)
            {
                continue;
            }

            var headers = record.Headers;
            try
            {
                byte[]? key = await _keySerializer!.SerializeAsync(record.Key, new SerializationContext(MessageComponentType.Key, topic, headers)).ConfigureAwait(false);
                byte[]? value = await _valueSerializer!.SerializeAsync(record.Value, new SerializationContext(MessageComponentType.Value, topic, headers)).ConfigureAwait(false);
                serialized[i] = new Message<byte[]?, byte[]?> { Key = key, Value = value, Headers = headers, Timestamp = record.Timestamp };
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                tracker.Failed(i, new ProduceException<TKey, TValue>(new Error(ErrorCode.Local_ValueSerialization, $"Serialization failed: {ex.Message}"), new DeliveryResult<TKey, TValue> { Message = record, Topic = topic }, ex));
            }
        }

        return await ProduceAllAsync(batch, serialized, tracker, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<Task<BatchResult>> ProduceAllAsync(ReadOnlyMemory<KafkaRecord<TKey, TValue>> batch, Message<byte[]?, byte[]?>?[]? serialized, BatchTracker tracker, CancellationToken cancellationToken)
    {
        for (int i = 0; i < batch.Length; i++)
        {
            if (tracker.IsSettled(i))
            {
                continue;
            }

            int roomVersion = _room.Version;
            while (!TryProduce(batch.Span[i], serialized?[i], tracker, i))
            {
                // Local_QueueFull: wait for a delivery report to free room, then retry this same message.
                Log.QueueFull(_logger, i);
                try
                {
                    await _room.WaitAsync(roomVersion, _options.QueueFullRetryInterval, _timeProvider, cancellationToken).ConfigureAwait(false);
                    roomVersion = _room.Version;
                }
                catch (OperationCanceledException)
                {
                    // Aborted while waiting: what was not handed to the client is abandoned, the rest keeps its outcome.
                    tracker.AbandonFrom(i);
                    return tracker.Acknowledgement;
                }
            }
        }

        return tracker.Acknowledgement;
    }

    // Returns false only when the client's queue is full; any other problem is this message's failure.
    private bool TryProduce(KafkaRecord<TKey, TValue> record, Message<byte[]?, byte[]?>? bytes, BatchTracker tracker, int index)
    {
        string? topic = record.Topic ?? _options.DefaultTopic;
        if (topic is null)
        {
            tracker.Failed(index, new ArgumentException("The record has no topic and the sink has no default topic (KafkaSinkOptions.DefaultTopic)."));
            return true;
        }

        // Records mostly share one topic string: a name is checked when it differs from the last one that passed
        // (racing accepts at worst check a name twice).
        if (!ReferenceEquals(topic, _checkedTopic))
        {
            if (TopicName.Problem(topic) is { } problem)
            {
                tracker.Failed(index, new ArgumentException($"The record's topic '{topic}' is not a legal Kafka topic name: {problem}."));
                return true;
            }

            _checkedTopic = topic;
        }

        var delivery = new Delivery(this, tracker, index);
        try
        {
            if (_producer is not null)
            {
                if (record.Partition is { } partition)
                {
                    _producer.Produce(new TopicPartition(topic, partition), record, delivery.OnReport);
                }
                else
                {
                    _producer.Produce(topic, record, delivery.OnReport);
                }
            }
            else if (record.Partition is { } partition)
            {
                _bytesProducer!.Produce(new TopicPartition(topic, partition), bytes!, delivery.OnBytesReport);
            }
            else
            {
                _bytesProducer!.Produce(topic, bytes!, delivery.OnBytesReport);
            }

            return true;
        }
        catch (KafkaException ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
        {
            return false;
        }
        catch (Exception ex) when (ex is KafkaException or ArgumentException)
        {
            // A serializer that threw (wrapped by the client as Local_KeySerialization/Local_ValueSerialization), a
            // message over message.max.bytes, an invalid topic: this message fails, the batch goes on.
            tracker.Failed(index, ex);
            return true;
        }
    }

    private sealed class Delivery(KafkaBatchSink<TKey, TValue> sink, BatchTracker tracker, int index)
    {
        public void OnReport(DeliveryReport<TKey, TValue> report)
        {
            if (report.Error.IsError)
            {
                tracker.Failed(index, new ProduceException<TKey, TValue>(report.Error, report));
            }
            else
            {
                tracker.Delivered(index);
            }

            sink._room.Pulse();
        }

        public void OnBytesReport(DeliveryReport<byte[]?, byte[]?> report)
        {
            if (report.Error.IsError)
            {
                tracker.Failed(index, new KafkaException(report.Error));
            }
            else
            {
                tracker.Delivered(index);
            }

            sink._room.Pulse();
        }
    }
}
