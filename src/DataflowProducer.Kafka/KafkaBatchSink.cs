using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using System.Text.RegularExpressions;
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
/// Every message gets exactly one outcome: delivered; failed with its error (a serializer that throws, a message
/// too large, no topic, a delivery error); or, after <see cref="FlushAsync"/> gave up waiting, abandoned. A client
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
    // An unknown property name that makes the client reject a configuration before it starts anything.
    private const string ProbeSentinel = "dataflowproducer.probe.sentinel";

    // A client whose Flush does not return within its timeout is not waited for longer than this on top of it.
    private static readonly TimeSpan FlushGrace = TimeSpan.FromSeconds(1);

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
        _producer = producer;
        _logger = GuardedLogger.Wrap(logger);
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    // Internal for tests: the serializing path (async serializers, a bytes producer) over a producer the sink does not own.
    internal KafkaBatchSink(IProducer<byte[]?, byte[]?> producer, IAsyncSerializer<TKey> keySerializer, IAsyncSerializer<TValue> valueSerializer, KafkaSinkOptions<TKey, TValue>? options = null, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        _options = Validate(options);
        _bytesProducer = producer;
        _keySerializer = keySerializer;
        _valueSerializer = valueSerializer;
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
        if (_options.AsyncKeySerializer is not null || _options.AsyncValueSerializer is not null)
        {
            _keySerializer = _options.AsyncKeySerializer ?? AsAsync(_options.KeySerializer ?? DefaultSerializers.For<TKey>("key"));
            _valueSerializer = _options.AsyncValueSerializer ?? AsAsync(_options.ValueSerializer ?? DefaultSerializers.For<TValue>("value"));
            _bytesProducer = Build(Configure(new ProducerBuilder<byte[]?, byte[]?>(effective)), effective);
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

            _producer = Build(builder, effective);
        }

        try
        {
            Log.ProducerCreated(_logger, effective.BootstrapServers, effective.EnableIdempotence);
        }
        catch
        {
            // The producer runs threads and holds connections: nothing that fails after it exists may leak it.
            DisposeProducer();
            throw;
        }
    }

    // Internal for tests: the client the sink produces through (its own, or the one it was given).
    internal IClient Client => (IClient?)_producer ?? _bytesProducer!;

    /// <summary>Gets the underlying producer's name, for diagnostics.</summary>
    public string Name => _producer?.Name ?? _bytesProducer!.Name;

    /// <inheritdoc />
    public ValueTask<Task<BatchResult>> AcceptAsync(ReadOnlyMemory<KafkaRecord<TKey, TValue>> batch, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Volatile.Read(ref _broken) is { } broken)
        {
            // Fail fast after a fatal client error: the pipeline aborts and hands back what it never sent.
            return ValueTask.FromException<Task<BatchResult>>(broken);
        }

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
    /// <remarks>Runs the client's blocking <c>Flush</c> on a dedicated thread, so the thread pool is never blocked, and
    /// waits for it at most a second past <paramref name="timeout"/> (a client whose flush hangs is left behind).
    /// Messages whose outcome is still unknown afterwards are reported abandoned in their batch's result. After a fatal
    /// client error it then throws a <see cref="KafkaException"/> carrying that error.</remarks>
    public async Task FlushAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        Log.FlushStarted(_logger, timeout);
        int left = 0;
        try
        {
            Task<int> flush = Task.Factory.StartNew(
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
                TaskScheduler.Default);
            try
            {
                left = FlushBound(timeout) is { } bound
                    ? await flush.WaitAsync(bound, _timeProvider, cancellationToken).ConfigureAwait(false)
                    : await flush.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!flush.IsCompleted)
            {
                Observe(flush);
                if (ex is not TimeoutException)
                {
                    throw;
                }

                Log.FlushDidNotReturn(_logger, timeout + FlushGrace);
            }
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

        ThrowIfBroken();
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

        if (options.DefaultTopic is { } topic && !KafkaTopicName.IsValid(topic, out string? problem))
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

    // How long to wait for the client's flush: its timeout plus a grace period, or no limit (an infinite timeout, or
    // one too long for a timer, which only the token ends).
    private static TimeSpan? FlushBound(TimeSpan timeout)
    {
        if (timeout == Timeout.InfiniteTimeSpan || timeout.TotalMilliseconds >= uint.MaxValue - 1 - FlushGrace.TotalMilliseconds)
        {
            return null;
        }

        return timeout + FlushGrace;
    }

    private static SyncSerializerAdapter<T> AsAsync<T>(ISerializer<T> serializer) => new SyncSerializerAdapter<T>(serializer);

    // Confluent rejects an unknown property with InvalidOperationException and a bad value with ArgumentException,
    // before it starts anything; both are bad configuration, so both surface as ArgumentException naming the key.
    private static IProducer<TK, TV> Build<TK, TV>(ProducerBuilder<TK, TV> builder, ProducerConfig config)
    {
        try
        {
            return builder.Build();
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            throw ConfigurationRejected(config, ex);
        }
    }

    // The client names a setting by its own canonical name (request.required.acks for acks), so the message alone may
    // name a key the user never wrote. Each key is tried alone, followed by an unknown sentinel property: the client
    // stops at the first property it rejects, before it creates anything, so a probe never starts a client, and the
    // key whose probe fails on the key itself is the one to name. The client's own message may quote the value it
    // rejected (settings it validates, such as acks, are not secrets; the CLI redacts secret values from its output).
    private static ArgumentException ConfigurationRejected(ProducerConfig config, Exception error)
    {
        foreach (KeyValuePair<string, string> setting in config)
        {
            string? reason = null;
            try
            {
                using IProducer<Null, Null> probe = new ProducerBuilder<Null, Null>([setting, new(ProbeSentinel, string.Empty)]).Build();
            }
            catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or KafkaException)
            {
                if (!ex.Message.Contains(ProbeSentinel, StringComparison.Ordinal))
                {
                    reason = ex.Message;
                }
            }

            if (reason is not null)
            {
                string named = PropertyNamePattern().Replace(reason, $"property$1\"{setting.Key}\"", 1);
                return new ArgumentException($"The producer configuration's setting '{setting.Key}' was rejected: {named}", nameof(config), error);
            }
        }

        return new ArgumentException($"The producer configuration was rejected: {error.Message}", nameof(config), error);
    }

    [GeneratedRegex("property(:? )\"[^\"]*\"", RegexOptions.CultureInvariant)]
    private static partial Regex PropertyNamePattern();

    private static void Observe(Task task) =>
        task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private void ThrowIfBroken()
    {
        if (Volatile.Read(ref _broken) is { } broken)
        {
            ExceptionDispatchInfo.Throw(broken);
        }
    }

    // The first fatal error wins; later batches are refused with it.
    private void MarkFatal(Error error) => MarkBroken(new KafkaException(error));

    private void MarkBroken(Exception error)
    {
        if (Interlocked.CompareExchange(ref _broken, error, null) is null)
        {
            Log.ClientBroken(_logger, error);
        }
    }

    // Internal for tests: what the client's error handler does.
    internal void OnClientError(Error error)
    {
        Log.ClientError(_logger, error.Code, error.IsFatal, error.Reason);
        if (error.IsFatal)
        {
            MarkFatal(error);
        }
    }

    private ProducerBuilder<TK, TV> Configure<TK, TV>(ProducerBuilder<TK, TV> builder) =>
        builder
            .SetErrorHandler((_, error) => OnClientError(error))
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
            KafkaRecord<TKey, TValue>? record = batch.Span[i];
            string? topic = record?.Topic ?? _options.DefaultTopic;
            if (record is null || topic is null)
            {
                // TryProduce fails it with the reason.
                continue;
            }

            var headers = record.Headers;
            try
            {
                (byte[]? key, Exception? keyError) = await SerializeAsync(_keySerializer!, record.Key, new SerializationContext(MessageComponentType.Key, topic, headers), cancellationToken).ConfigureAwait(false);
                if (keyError is not null)
                {
                    tracker.Failed(i, SerializationFailed(ErrorCode.Local_KeySerialization, "Key", record, topic, keyError));
                    continue;
                }

                (byte[]? value, Exception? valueError) = await SerializeAsync(_valueSerializer!, record.Value, new SerializationContext(MessageComponentType.Value, topic, headers), cancellationToken).ConfigureAwait(false);
                if (valueError is not null)
                {
                    tracker.Failed(i, SerializationFailed(ErrorCode.Local_ValueSerialization, "Value", record, topic, valueError));
                    continue;
                }

                serialized[i] = new Message<byte[]?, byte[]?> { Key = key, Value = value, Headers = headers, Timestamp = record.Timestamp };
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Aborted while a serializer ran: nothing of this batch was handed to the client yet.
                tracker.AbandonUnsettled();
                return tracker.Acknowledgement;
            }
        }

        return await ProduceAllAsync(batch, serialized, tracker, cancellationToken).ConfigureAwait(false);
    }

    // The serializer's result, or the error it ended with (thrown, a faulted task, a canceled task: the record's
    // failure). Throws only when the sink's own token is canceled, which a serializer that never completes cannot hold up.
    private static async Task<(byte[]? Bytes, Exception? Error)> SerializeAsync<T>(IAsyncSerializer<T> serializer, T data, SerializationContext context, CancellationToken cancellationToken)
    {
        Task<byte[]> serializing;
        try
        {
            serializing = serializer.SerializeAsync(data, context) ?? throw new InvalidOperationException("The serializer returned a null task.");
        }
        catch (Exception ex)
        {
            return (null, ex);
        }

        try
        {
            return (await serializing.WaitAsync(cancellationToken).ConfigureAwait(false), null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Observe(serializing);
            throw;
        }
        catch (Exception ex)
        {
            return (null, ex);
        }
    }

    private static ProduceException<TKey, TValue> SerializationFailed(ErrorCode code, string component, KafkaRecord<TKey, TValue> record, string topic, Exception error) =>
        Failure(new Error(code, $"{component} serialization failed: {error.Message}"), record, topic, error);

    // One error type for a message's failure whichever way the sink produces (typed or serialized bytes).
    private static ProduceException<TKey, TValue> Failure(Error error, KafkaRecord<TKey, TValue> record, string topic, Exception? inner, TopicPartitionOffset? position = null) =>
        new(error, new DeliveryResult<TKey, TValue> { Message = record, TopicPartitionOffset = position ?? new TopicPartitionOffset(topic, record.Partition ?? Partition.Any, Offset.Unset), Status = PersistenceStatus.NotPersisted }, inner);

    private async ValueTask<Task<BatchResult>> ProduceAllAsync(ReadOnlyMemory<KafkaRecord<TKey, TValue>> batch, Message<byte[]?, byte[]?>?[]? serialized, BatchTracker tracker, CancellationToken cancellationToken)
    {
        for (int i = 0; i < batch.Length; i++)
        {
            if (tracker.IsSettled(i))
            {
                continue;
            }

            if (Volatile.Read(ref _broken) is not null)
            {
                // Fail fast: after a fatal client error nothing more is handed to the client.
                tracker.AbandonFrom(i);
                return tracker.Acknowledgement;
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
    private bool TryProduce(KafkaRecord<TKey, TValue>? record, Message<byte[]?, byte[]?>? bytes, BatchTracker tracker, int index)
    {
        if (record is null)
        {
            tracker.Failed(index, new ArgumentNullException(nameof(record), $"Record {index} of the batch is null; a null record cannot be produced."));
            return true;
        }

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
            if (!KafkaTopicName.IsValid(topic, out string? problem))
            {
                tracker.Failed(index, new ArgumentException($"The record's topic '{topic}' is not a legal Kafka topic name: {problem}."));
                return true;
            }

            _checkedTopic = topic;
        }

        var delivery = new Delivery(this, tracker, index, record);
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
        catch (KafkaException ex)
        {
            // A serializer that threw (wrapped by the client as Local_KeySerialization/Local_ValueSerialization), a
            // message over message.max.bytes: this message fails, the batch goes on. A fatal error stops the rest.
            if (ex.Error.IsFatal)
            {
                MarkFatal(ex.Error);
            }
            else if (ex.Error.Code == ErrorCode.Local_Fatal)
            {
                // The client refuses messages with Local_Fatal once it has failed fatally, without the fatal flag.
                MarkFatal(new Error(ErrorCode.Local_Fatal, ex.Error.Reason, isFatal: true));
            }

            tracker.Failed(index, ex as ProduceException<TKey, TValue> ?? Failure(ex.Error, record, topic, ex.InnerException ?? ex));
            return true;
        }
        catch (ArgumentException ex)
        {
            tracker.Failed(index, ex);
            return true;
        }
        catch (Exception ex)
        {
            // Not one message's problem but a broken client (disposed, or failing in a way it does not report as a
            // Kafka error): this message fails with it, and the pipeline is stopped as after a fatal error.
            MarkBroken(ex);
            tracker.Failed(index, ex);
            return true;
        }
    }

    private sealed class Delivery(KafkaBatchSink<TKey, TValue> sink, BatchTracker tracker, int index, KafkaRecord<TKey, TValue> record)
    {
        public void OnReport(DeliveryReport<TKey, TValue> report)
        {
            if (report.Error.IsError)
            {
                sink.FatalCheck(report.Error);
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
                sink.FatalCheck(report.Error);
                tracker.Failed(index, Failure(report.Error, record, report.Topic, inner: null, report.TopicPartitionOffset));
            }
            else
            {
                tracker.Delivered(index);
            }

            sink._room.Pulse();
        }
    }

    private void FatalCheck(Error error)
    {
        if (error.IsFatal)
        {
            MarkFatal(error);
        }
    }
}
