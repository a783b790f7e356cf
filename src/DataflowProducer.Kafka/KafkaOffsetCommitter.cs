using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Diagnostics;
using DataflowProducer.Kafka.Internal;
using Microsoft.Extensions.Logging;

namespace DataflowProducer.Kafka;

/// <summary>
/// Acknowledges a <see cref="KafkaConsumerSource{TKey, TValue}"/> after delivery: fed by a producer block's
/// <see cref="BatchProducerBlock{T}.Outcomes"/>, it lets each partition's committed offset advance only over the
/// contiguous prefix of consumed records whose outcome is final. Made by
/// <see cref="KafkaConsumerSource{TKey, TValue}.CreateCommitter{T}(Func{T, TopicPartitionOffset?}, KafkaOffsetCommitterOptions{T}?)"/>.
/// </summary>
/// <typeparam name="T">The type of the produced items.</typeparam>
/// <remarks>
/// <para>
/// The source tracks every record it emits; an offset is final when its item was delivered, when its failure was handed
/// to <see cref="KafkaOffsetCommitterOptions{T}.DeadLetter"/> and the handler returned, or when the job says the record
/// needs no output (<see cref="Acknowledge"/>, for records a transform filters out). A failure without a dead-letter
/// handler, and any <see cref="OutcomeStatus.NotSent"/> or <see cref="OutcomeStatus.Unknown"/> outcome, holds its
/// partition at the record before it: a restart reads it again. So the committed offset is never past a record that is
/// not in the destination (at-least-once; the duplicates after a restart are at most what was in flight).
/// </para>
/// <para>
/// How offsets reach Kafka: the consumer runs with <c>enable.auto.offset.store=false</c>, and the committer
/// <em>stores</em> each partition's offset (last safe + 1) with <c>StoreOffset</c> as it advances — a local call, no
/// network round trip on the outcome path. librdkafka commits stored offsets on its <c>auto.commit.interval.ms</c>
/// timer (when <c>enable.auto.commit</c> is on, its default), and the source commits them explicitly when partitions are
/// revoked and when it is disposed. Storing rather than committing means no commit can carry an offset the committer
/// did not store, and a slow broker never holds the pipeline back.
/// </para>
/// <para>
/// An item that maps to no source position (the function returns null) is ignored. One output item per consumed record:
/// a record fanned out into several items would be final when the first one is.
/// </para>
/// </remarks>
[SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "The token source has no timer and no registrations of its own; a Dataflow target has no Dispose in its contract.")]
public sealed class KafkaOffsetCommitter<T> : ITargetBlock<BatchOutcome<T>>
{
    private readonly OffsetTracker _tracker;
    private readonly Func<T, TopicPartitionOffset?> _position;
    private readonly KafkaOffsetCommitterOptions<T> _options;
    private readonly ILogger _logger;
    private readonly ActionBlock<BatchOutcome<T>> _worker;
    private readonly CancellationTokenSource _faulted = new();
    private readonly HashSet<TopicPartition> _heldPartitions = []; // the worker's own (one at a time): warned about once
    private long _completed;
    private long _blocked;
    private long _ignored;

    internal KafkaOffsetCommitter(OffsetTracker tracker, Func<T, TopicPartitionOffset?> position, KafkaOffsetCommitterOptions<T>? options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(position);
        _options = (options ?? new KafkaOffsetCommitterOptions<T>()).Clone();
        if (_options.BoundedCapacity < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), _options.BoundedCapacity, string.Create(CultureInfo.InvariantCulture, $"KafkaOffsetCommitterOptions.BoundedCapacity must be at least 1, but was {_options.BoundedCapacity}."));
        }
        _tracker = tracker;
        _position = position;
        _logger = logger;
        _worker = new ActionBlock<BatchOutcome<T>>(ApplyAsync, new ExecutionDataflowBlockOptions { BoundedCapacity = _options.BoundedCapacity, MaxDegreeOfParallelism = 1 });
    }

    /// <inheritdoc />
    /// <remarks>Completes after the last outcome has been applied (<see cref="Complete"/>, or the linked outcomes
    /// completed with <c>PropagateCompletion</c>).</remarks>
    public Task Completion => _worker.Completion;

    /// <summary>Gets how many items' source offsets were marked final so far.</summary>
    public long Completed => Interlocked.Read(ref _completed);

    /// <summary>Gets how many items' source offsets hold their partition (failed without a handler, not sent, unknown).</summary>
    public long Blocked => Interlocked.Read(ref _blocked);

    /// <summary>Gets how many items were ignored: no source position, or a partition no longer assigned.</summary>
    public long Ignored => Interlocked.Read(ref _ignored);

    /// <summary>Marks a consumed record final without an outcome: the job chose to produce nothing for it (a filter).</summary>
    /// <param name="position">The record's position, as consumed (its offset, not offset + 1).</param>
    /// <returns>True when the record was tracked and not yet final; false when it is unknown to the source (another
    /// partition's, revoked, already final).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="position"/> is null.</exception>
    public bool Acknowledge(TopicPartitionOffset position)
    {
        ArgumentNullException.ThrowIfNull(position);
        bool applied = _tracker.Complete(position.TopicPartition, position.Offset.Value);
        Interlocked.Increment(ref applied ? ref _completed : ref _ignored);
        return applied;
    }

    /// <summary>Gets each partition's stored offset (the next offset a restart reads): what is, or will be, committed.</summary>
    /// <returns>A snapshot, one entry per partition that stored an offset while assigned.</returns>
    public IReadOnlyList<TopicPartitionOffset> GetStoredOffsets() => _tracker.StoredOffsets();

    /// <inheritdoc />
    public void Complete() => _worker.Complete();

    /// <inheritdoc />
    void IDataflowBlock.Fault(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        _faulted.Cancel();

        ((IDataflowBlock)_worker).Fault(exception);
    }

    /// <inheritdoc />
    DataflowMessageStatus ITargetBlock<BatchOutcome<T>>.OfferMessage(DataflowMessageHeader messageHeader, BatchOutcome<T> messageValue, ISourceBlock<BatchOutcome<T>>? source, bool consumeToAccept) =>
        ((ITargetBlock<BatchOutcome<T>>)_worker).OfferMessage(messageHeader, messageValue, source, consumeToAccept);

    // Internal for tests: called after each batch outcome has been applied, on the committer's thread.
    internal Action<BatchOutcome<T>>? Applied { get; set; }

    private async Task ApplyAsync(BatchOutcome<T> outcome)
    {
        if (outcome is null)
        {
            return;
        }

        try
        {
            await ApplyItemsAsync(outcome).ConfigureAwait(false);
        }
        finally
        {
            _tracker.StoreAdvanced();
        }

        Applied?.Invoke(outcome);
    }

    private async Task ApplyItemsAsync(BatchOutcome<T> outcome)
    {

        for (int i = 0; i < outcome.Count; i++)
        {
            ItemOutcome<T> item = outcome[i];
            TopicPartitionOffset? position = Position(item.Item);
            if (position is null)
            {
                Interlocked.Increment(ref _ignored);
                continue;
            }

            bool final = item.Status == OutcomeStatus.Delivered || (item.Status == OutcomeStatus.Failed && await DeadLetteredAsync(item, position).ConfigureAwait(false));
            bool applied = final
                ? _tracker.Complete(position.TopicPartition, position.Offset.Value, store: false)
                : _tracker.Block(position.TopicPartition, position.Offset.Value);
            if (!applied)
            {
                Interlocked.Increment(ref _ignored);
            }
            else if (final)
            {
                Interlocked.Increment(ref _completed);
            }
            else
            {
                // A warning the first time a partition is held, not for every record behind it (an abort can hold
                // thousands); the rest at Debug.
                Interlocked.Increment(ref _blocked);
                if (_heldPartitions.Add(position.TopicPartition))
                {
                    Log.PartitionHeld(_logger, position.TopicPartition, position.Offset.Value, item.Status);
                }
                else
                {
                    Log.PartitionStillHeld(_logger, position.TopicPartition, position.Offset.Value, item.Status);
                }
            }
        }
    }

    private TopicPartitionOffset? Position(T item)
    {
        try
        {
            return _position(item);
        }
        catch (Exception ex)
        {
            // User code: an item it cannot place is ignored (its offset stays open, so its partition waits).
            Log.PositionFailed(_logger, ex);
            return null;
        }
    }

    // True when the dead-letter handler took the failed item and returned.
    private async Task<bool> DeadLetteredAsync(ItemOutcome<T> item, TopicPartitionOffset position)
    {
        if (_options.DeadLetter is not { } deadLetter)
        {
            return false;
        }

        // What is safe already is stored before a handler that may take long.
        _tracker.StoreAdvanced();
        try
        {
            Task handled = deadLetter(item, _faulted.Token) ?? throw new InvalidOperationException("The dead-letter handler returned a null task.");
            await handled.ConfigureAwait(false);
            return true;
        }
        catch (Exception ex)
        {
            Log.DeadLetterFailed(_logger, ex, position.TopicPartition, position.Offset.Value);
            return false;
        }
    }
}
