using System.Diagnostics;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Diagnostics;
using DataflowProducer.Kafka.Internal;
using Microsoft.Extensions.Logging;
using GuardedLogger = DataflowProducer.Diagnostics.GuardedLogger;

namespace DataflowProducer.Kafka;

/// <summary>
/// A Dataflow source over a Confluent consumer in a consumer group: emits each consumed record, in order per partition,
/// and tracks it so that a <see cref="KafkaOffsetCommitter{T}"/> can commit only what the pipeline finished.
/// </summary>
/// <typeparam name="TKey">The key type.</typeparam>
/// <typeparam name="TValue">The value type.</typeparam>
/// <remarks>
/// <para>
/// The consume loop runs on its own long-running thread (Confluent's <c>Consume</c> blocks, and partition assignment
/// and revocation run inside it). The source holds at most <see cref="KafkaConsumerSourceOptions{TKey, TValue}.BoundedCapacity"/>
/// records; when it is full the loop waits for room, so a slow pipeline stops consumption and nothing is dropped. A
/// pipeline that stalls longer than the consumer's <c>max.poll.interval.ms</c> loses its partitions to the group.
/// </para>
/// <para>
/// Stopping: <see cref="Complete"/> stops consuming; what the source holds still flows out, then
/// <see cref="Completion"/> ends (and, linked with <c>PropagateCompletion</c>, completes the pipeline). The consumer
/// stays open so the committer can still store offsets. <see cref="DisposeAsync"/> stops consuming if that has not
/// happened, commits what is safe, and closes the consumer: call it after the committer's <c>Completion</c> for a clean
/// stop, or at once to abandon what is in flight (it is read again after a restart, from the last commit).
/// </para>
/// <para>
/// Revocation commits each revoked partition's stored (safe) offset and forgets the rest; lost partitions are forgotten
/// without a commit. A record that cannot be deserialized, or a fatal client error, faults the source (the record's
/// partition cannot move past it, so consuming on would be pointless; a restart reads it again).
/// </para>
/// </remarks>
[DebuggerDisplay("Assigned = {AssignedCount}, Pending = {PendingCount}, Completed = {Completion.IsCompleted}")]
public sealed class KafkaConsumerSource<TKey, TValue> : ISourceBlock<ConsumeResult<TKey, TValue>>, IAsyncDisposable
{
    private readonly IConsumer<TKey, TValue> _consumer;
    private readonly bool _ownsConsumer;
    private readonly string[]? _topics;
    private readonly KafkaConsumerSourceOptions<TKey, TValue> _options;
    private readonly ILogger _logger;
    private readonly BufferBlock<ConsumeResult<TKey, TValue>> _buffer;
    private readonly OffsetTracker _tracker;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();

    // Guarded by _lock: written on the consume thread (handlers run inside Consume), read by anyone.
    private readonly HashSet<TopicPartition> _assigned = [];
    private readonly HashSet<TopicPartition> _atEnd = [];

    private Task _loop = Task.CompletedTask;
    private int _disposed;

    /// <summary>Initializes a source that builds and owns its consumer, subscribes to the topics and starts consuming.</summary>
    /// <param name="config">The consumer configuration, taken as it is (copied), except that <c>enable.auto.offset.store</c>
    /// is set to false (the committer stores offsets) and, with
    /// <see cref="KafkaConsumerSourceOptions{TKey, TValue}.CompleteAtEndOfPartitions"/>, <c>enable.partition.eof</c> to
    /// true. It must name a <c>group.id</c>. On a Kafka 0.9 broker, <c>session.timeout.ms</c> must be at most 30000.</param>
    /// <param name="topics">The topics to subscribe to.</param>
    /// <param name="options">The options; copied.</param>
    /// <param name="logger">The logger for the source, its committers and the client's own log; null for none.</param>
    /// <exception cref="ArgumentNullException"><paramref name="config"/> or <paramref name="topics"/> is null.</exception>
    /// <exception cref="ArgumentException">No topic, an empty topic name, no group id, <c>enable.auto.offset.store</c>
    /// set to true, <c>enable.partition.eof</c> set to false with
    /// <see cref="KafkaConsumerSourceOptions{TKey, TValue}.CompleteAtEndOfPartitions"/>, or a configuration the client
    /// rejects; the message names the setting.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public KafkaConsumerSource(ConsumerConfig config, IEnumerable<string> topics, KafkaConsumerSourceOptions<TKey, TValue>? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(topics);
        _options = Validate(options);
        _topics = [.. topics];
        if (_topics.Length == 0)
        {
            throw new ArgumentException("At least one topic is required.", nameof(topics));
        }

        if (Array.Exists(_topics, string.IsNullOrEmpty))
        {
            throw new ArgumentException("A topic name is null or empty.", nameof(topics));
        }

        ConsumerConfig effective = WithRequiredSettings(config, _options);
        _logger = GuardedLogger.Wrap(logger);
        _ownsConsumer = true;
        _buffer = new BufferBlock<ConsumeResult<TKey, TValue>>(new DataflowBlockOptions { BoundedCapacity = _options.BoundedCapacity });
        _consumer = Build(effective);
        _tracker = new OffsetTracker(_consumer.StoreOffset) { StoreFailed = OnStoreFailed };
        _loop = Task.Factory.StartNew(ConsumeLoop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    // Internal for tests: a source over a consumer it does not own (a substitute), already assigned or subscribed; the
    // tests call the rebalance handlers themselves. Starts consuming only when asked (StartForTests).
    internal KafkaConsumerSource(IConsumer<TKey, TValue> consumer, KafkaConsumerSourceOptions<TKey, TValue>? options = null, ILogger? logger = null)
    {
        _options = Validate(options);
        _logger = GuardedLogger.Wrap(logger);
        _consumer = consumer;
        _buffer = new BufferBlock<ConsumeResult<TKey, TValue>>(new DataflowBlockOptions { BoundedCapacity = _options.BoundedCapacity });
        _tracker = new OffsetTracker(consumer.StoreOffset) { StoreFailed = OnStoreFailed };
    }

    /// <inheritdoc />
    /// <remarks>Ends when the source has stopped consuming (<see cref="Complete"/>, <see cref="DisposeAsync"/>, every
    /// partition at its end with <see cref="KafkaConsumerSourceOptions{TKey, TValue}.CompleteAtEndOfPartitions"/>) and
    /// every record it held was taken; faulted after a fatal error.</remarks>
    public Task Completion => _buffer.Completion;

    /// <summary>Gets the partitions currently assigned to the consumer, as its rebalance handlers reported them.</summary>
    public IReadOnlyCollection<TopicPartition> Assignment
    {
        get
        {
            lock (_lock)
            {
                return [.. _assigned];
            }
        }
    }

    private int AssignedCount => Assignment.Count;

    private int PendingCount => _tracker.Pending();

    internal OffsetTracker Tracker => _tracker;

    // Internal for tests: the records consumed and not yet final when DisposeAsync closed the tracker (the most a
    // restart can read again).
    internal int PendingAtClose { get; private set; }

    /// <summary>Creates the committer for this source's records, fed by a producer block's outcomes.</summary>
    /// <typeparam name="T">The type of the produced items.</typeparam>
    /// <param name="sourcePosition">Where an item came from: its source record's position (as consumed), or null for an
    /// item that did not come from this source.</param>
    /// <param name="options">The committer's options; null for the defaults (a failed item holds its partition).</param>
    /// <returns>The committer: link the producer block's <see cref="BatchProducerBlock{T}.Outcomes"/> to it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="sourcePosition"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public KafkaOffsetCommitter<T> CreateCommitter<T>(Func<T, TopicPartitionOffset?> sourcePosition, KafkaOffsetCommitterOptions<T>? options = null) =>
        new(_tracker, sourcePosition, options, _logger);

    /// <summary>Creates the committer for Kafka records whose <see cref="KafkaRecord{TKey, TValue}.Correlation"/> is the
    /// <see cref="ConsumeResult{TKey, TValue}"/> (or the <see cref="TopicPartitionOffset"/>) they were made from.</summary>
    /// <typeparam name="TOutKey">The produced records' key type.</typeparam>
    /// <typeparam name="TOutValue">The produced records' value type.</typeparam>
    /// <param name="options">The committer's options; null for the defaults (a failed item holds its partition).</param>
    /// <returns>The committer: link the producer block's <see cref="BatchProducerBlock{T}.Outcomes"/> to it.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public KafkaOffsetCommitter<KafkaRecord<TOutKey, TOutValue>> CreateCommitter<TOutKey, TOutValue>(KafkaOffsetCommitterOptions<KafkaRecord<TOutKey, TOutValue>>? options = null) =>
        new(_tracker, static record => record?.Correlation switch
        {
            ConsumeResult<TKey, TValue> consumed => consumed.TopicPartitionOffset,
            TopicPartitionOffset position => position,
            _ => null,
        }, options, _logger);

    /// <summary>Stops consuming. What the source holds still flows to its targets; then <see cref="Completion"/> ends.
    /// The consumer stays open until <see cref="DisposeAsync"/>, so offsets of records still in the pipeline can be
    /// stored and committed.</summary>
    public void Complete() => Stop();

    /// <inheritdoc />
    void IDataflowBlock.Fault(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        Stop();
        ((IDataflowBlock)_buffer).Fault(exception);
    }

    /// <summary>Stops consuming (if that has not happened), waits for the consume thread, commits every partition's
    /// stored offset, and closes the consumer (when the source built it). Records still in the pipeline are not waited
    /// for: outcomes that arrive later are ignored, and a restart reads those records again.</summary>
    /// <returns>A task that completes when the consumer is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Stop();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The loop never throws; its failure faulted the source.
        }

        PendingAtClose = _tracker.Pending();
        List<TopicPartitionOffset> stored = _tracker.Close();
        if (_ownsConsumer)
        {
            // Close blocks (it leaves the group, runs the revocation handler): off the caller's thread.
            await Task.Factory.StartNew(() => CommitAndClose(stored), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
        }

        _buffer.Complete();
        _stop.Dispose();
    }

    /// <inheritdoc />
    public IDisposable LinkTo(ITargetBlock<ConsumeResult<TKey, TValue>> target, DataflowLinkOptions linkOptions) => _buffer.LinkTo(target, linkOptions);

    /// <inheritdoc />
    ConsumeResult<TKey, TValue>? ISourceBlock<ConsumeResult<TKey, TValue>>.ConsumeMessage(DataflowMessageHeader messageHeader, ITargetBlock<ConsumeResult<TKey, TValue>> target, out bool messageConsumed) =>
        ((ISourceBlock<ConsumeResult<TKey, TValue>>)_buffer).ConsumeMessage(messageHeader, target, out messageConsumed);

    /// <inheritdoc />
    bool ISourceBlock<ConsumeResult<TKey, TValue>>.ReserveMessage(DataflowMessageHeader messageHeader, ITargetBlock<ConsumeResult<TKey, TValue>> target) =>
        ((ISourceBlock<ConsumeResult<TKey, TValue>>)_buffer).ReserveMessage(messageHeader, target);

    /// <inheritdoc />
    void ISourceBlock<ConsumeResult<TKey, TValue>>.ReleaseReservation(DataflowMessageHeader messageHeader, ITargetBlock<ConsumeResult<TKey, TValue>> target) =>
        ((ISourceBlock<ConsumeResult<TKey, TValue>>)_buffer).ReleaseReservation(messageHeader, target);

    // Internal for tests: runs the consume loop over the substitute.
    internal void StartForTests() => _loop = Task.Factory.StartNew(ConsumeLoop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    // The rebalance handlers; internal for tests. They run on the consume thread, inside Consume (or Close).
    internal void OnAssigned(IEnumerable<TopicPartition> partitions)
    {
        lock (_lock)
        {
            foreach (TopicPartition partition in partitions)
            {
                _assigned.Add(partition);
                _atEnd.Remove(partition);
            }
        }

        Log.PartitionsAssigned(_logger, partitions);
    }

    internal void OnRevoked(IEnumerable<TopicPartition> partitions, bool lost)
    {
        TopicPartition[] revoked = [.. partitions];
        lock (_lock)
        {
            foreach (TopicPartition partition in revoked)
            {
                _assigned.Remove(partition);
                _atEnd.Remove(partition);
            }
        }

        List<TopicPartitionOffset> safe = _tracker.Revoke(revoked);
        Log.PartitionsRevoked(_logger, revoked, lost);
        if (lost || safe.Count == 0)
        {
            // Lost partitions belong to another member already: committing for them could only move them backwards.
            return;
        }

        try
        {
            _consumer.Commit(safe);
        }
        catch (Exception ex) when (ex is KafkaException or InvalidOperationException or ObjectDisposedException)
        {
            // Not committed now: the group resumes from the last commit that did land (a duplicate, never a loss).
            Log.CommitFailed(_logger, ex);
        }
    }

    private static KafkaConsumerSourceOptions<TKey, TValue> Validate(KafkaConsumerSourceOptions<TKey, TValue>? options)
    {
        options = (options ?? new KafkaConsumerSourceOptions<TKey, TValue>()).Clone();
        if (options.BoundedCapacity < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.BoundedCapacity, $"KafkaConsumerSourceOptions.BoundedCapacity must be at least 1, but was {options.BoundedCapacity}.");
        }

        return options;
    }

    private static ConsumerConfig WithRequiredSettings(ConsumerConfig config, KafkaConsumerSourceOptions<TKey, TValue> options)
    {
        var copy = new ConsumerConfig(config.ToDictionary(static kv => kv.Key, static kv => kv.Value));
        if (string.IsNullOrEmpty(copy.GroupId))
        {
            throw new ArgumentException("The consumer configuration must set 'group.id' (ConsumerConfig.GroupId): offsets are committed for a consumer group.", nameof(config));
        }

        if (copy.EnableAutoOffsetStore == true)
        {
            throw new ArgumentException("The consumer configuration sets 'enable.auto.offset.store' to true, but it must be false (or unset): only the committer may store offsets, once their records are delivered.", nameof(config));
        }

        if (options.CompleteAtEndOfPartitions && copy.EnablePartitionEof == false)
        {
            throw new ArgumentException("The consumer configuration sets 'enable.partition.eof' to false, but KafkaConsumerSourceOptions.CompleteAtEndOfPartitions needs it true (or unset).", nameof(config));
        }

        copy.EnableAutoOffsetStore = false;
        if (options.CompleteAtEndOfPartitions)
        {
            copy.EnablePartitionEof = true;
        }

        return copy;
    }

    private IConsumer<TKey, TValue> Build(ConsumerConfig config)
    {
        var builder = new ConsumerBuilder<TKey, TValue>(config)
            .SetPartitionsAssignedHandler((_, partitions) => OnAssigned(partitions))
            .SetPartitionsRevokedHandler((_, partitions) => OnRevoked(partitions.Select(static p => p.TopicPartition), lost: false))
            .SetPartitionsLostHandler((_, partitions) => OnRevoked(partitions.Select(static p => p.TopicPartition), lost: true))
            .SetErrorHandler((_, error) => OnClientError(error))
            .SetLogHandler((_, message) => Log.ClientLog(_logger, message.Facility, message.Message));
        if (_options.KeyDeserializer is not null)
        {
            builder.SetKeyDeserializer(_options.KeyDeserializer);
        }

        if (_options.ValueDeserializer is not null)
        {
            builder.SetValueDeserializer(_options.ValueDeserializer);
        }

        try
        {
            return builder.Build();
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            throw new ArgumentException($"The consumer configuration was rejected: {ex.Message}", nameof(config), ex);
        }
    }

    private void OnClientError(Error error)
    {
        Log.ClientError(_logger, error.Code, error.IsFatal, error.Reason);
        if (error.IsFatal)
        {
            Stop();
            ((IDataflowBlock)_buffer).Fault(new KafkaException(error));
        }
    }

    private void OnStoreFailed(TopicPartitionOffset position, Exception error) => Log.StoreFailed(_logger, error, position.TopicPartition, position.Offset.Value);

    private void Stop()
    {
        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Disposed: stopped long ago.
        }
    }

    // The consume loop: catches everything, and always ends the source's output.
    private void ConsumeLoop()
    {
        CancellationToken stop = _stop.Token;
        try
        {
            if (_topics is not null)
            {
                _consumer.Subscribe(_topics);
            }

            while (!stop.IsCancellationRequested)
            {
                ConsumeResult<TKey, TValue>? result = _consumer.Consume(stop);
                if (result is null)
                {
                    continue;
                }

                if (result.IsPartitionEOF)
                {
                    if (ReachedEnd(result.TopicPartition))
                    {
                        Log.EndOfPartitions(_logger);
                        break;
                    }

                    continue;
                }

                lock (_lock)
                {
                    _atEnd.Remove(result.TopicPartition);
                }

                // Tracked before it is offered: a record still on its way through the pipeline holds its partition.
                _tracker.Track(result.TopicPartition, result.Offset.Value);

                // This thread is the source's own: blocking it while the pipeline is full is the backpressure.
                if (!_buffer.SendAsync(result, stop).GetAwaiter().GetResult())
                {
                    break;
                }
            }

            _buffer.Complete();
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            _buffer.Complete();
        }
        catch (Exception ex)
        {
            Log.ConsumeFailed(_logger, ex);
            ((IDataflowBlock)_buffer).Fault(ex);
        }
    }

    private bool ReachedEnd(TopicPartition partition)
    {
        lock (_lock)
        {
            _atEnd.Add(partition);
            return _options.CompleteAtEndOfPartitions && _assigned.Count > 0 && _assigned.IsSubsetOf(_atEnd);
        }
    }

    private void CommitAndClose(List<TopicPartitionOffset> stored)
    {
        try
        {
            if (stored.Count > 0)
            {
                _consumer.Commit(stored);
            }
        }
        catch (Exception ex) when (ex is KafkaException or InvalidOperationException)
        {
            Log.CommitFailed(_logger, ex);
        }

        try
        {
            _consumer.Close();
        }
        catch (Exception ex)
        {
            Log.CloseFailed(_logger, ex);
        }
        finally
        {
            _consumer.Dispose();
        }
    }
}
