using Confluent.Kafka;

namespace DataflowProducer.Kafka.Internal;

/// <summary>Every consumed offset of every assigned partition, from the moment the source emits its record until its
/// outcome is final; stores each partition's offset (last safe + 1) with the consumer as the contiguous prefix of
/// final offsets grows.</summary>
/// <remarks>
/// <para>
/// Shared by the source (which tracks each record before it emits it, and forgets partitions on revocation, on its
/// consume thread) and the committer (which completes or blocks offsets from its own thread). One lock guards the
/// partitions; the store is a local call into the client (librdkafka's offset store, no network), made under the lock
/// so that no store for a partition can land after its revocation forgot it.
/// </para>
/// <para>
/// After a partition is revoked, outcomes for its offsets are ignored until it is assigned again. If it comes back, a
/// late outcome of the previous assignment that matches an offset consumed again is applied: delivered is true of the
/// record whichever copy was delivered, and a failure only holds the partition back (a duplicate, never a loss).
/// </para>
/// </remarks>
internal sealed class OffsetTracker(Action<TopicPartitionOffset> store)
{
    private readonly Lock _lock = new();

    // Guarded by _lock.
    private readonly Dictionary<TopicPartition, PartitionState> _partitions = [];
    private readonly List<TopicPartition> _dirty = [];
    private bool _closed;

    /// <summary>Gets or sets what a store that the client refused (or threw for) is reported to; never throws.</summary>
    public Action<TopicPartitionOffset, Exception>? StoreFailed { get; set; }

    /// <summary>Tracks a consumed offset, before its record is emitted. A partition not seen before is tracked from here.</summary>
    public void Track(TopicPartition partition, long offset)
    {
        lock (_lock)
        {
            if (!_partitions.TryGetValue(partition, out PartitionState? state))
            {
                state = new PartitionState();
                _partitions.Add(partition, state);
            }

            if (state.LastTracked is { } last && offset <= last)
            {
                // The consumer went back (a seek, an offset reset): what was in flight can no longer be told apart from
                // what is read again, so the partition starts over. The first offset still without a final outcome
                // becomes a ceiling: nothing is stored past it until it has been read again and is final, so a rewind
                // that lands above it cannot commit past a record that was never delivered.
                if (state.Watermark.Pending > 0)
                {
                    long firstOpen = state.Watermark.SafeSequence is { } safe ? safe + 1 : state.FirstTracked!.Value;
                    state.Ceiling = state.Ceiling is { } ceiling ? Math.Min(ceiling, firstOpen) : firstOpen;
                }

                state.Watermark.Reset();
                state.FirstTracked = null;
            }

            state.Watermark.Track(offset);
            state.FirstTracked ??= offset;
            state.LastTracked = offset;
        }
    }

    /// <summary>Marks an offset final (delivered, handled, or filtered out). With <paramref name="store"/>, stores the
    /// partition's offset at once if it advanced; otherwise <see cref="StoreAdvanced"/> does, once for many offsets.</summary>
    /// <returns>True when the offset was tracked and open.</returns>
    public bool Complete(TopicPartition partition, long offset, bool store = true)
    {
        lock (_lock)
        {
            if (!_partitions.TryGetValue(partition, out PartitionState? state) || !state.Watermark.Complete(offset))
            {
                return false;
            }

            if (store)
            {
                StoreIfAdvancedLocked(partition, state);
            }
            else if (!state.Dirty)
            {
                state.Dirty = true;
                _dirty.Add(partition);
            }

            return true;
        }
    }

    /// <summary>Stores the offset of every partition that advanced since the last store: one local client call per
    /// partition and batch of outcomes, rather than one per record.</summary>
    public void StoreAdvanced()
    {
        lock (_lock)
        {
            foreach (TopicPartition partition in _dirty)
            {
                if (_partitions.TryGetValue(partition, out PartitionState? state) && state.Dirty)
                {
                    state.Dirty = false;
                    StoreIfAdvancedLocked(partition, state);
                }
            }

            _dirty.Clear();
        }
    }

    /// <summary>Marks an offset as not final for good (failed and not handled, not sent, unknown): the partition's
    /// offset never passes it until the partition is revoked.</summary>
    /// <returns>True when the offset was tracked and open.</returns>
    public bool Block(TopicPartition partition, long offset)
    {
        lock (_lock)
        {
            return _partitions.TryGetValue(partition, out PartitionState? state) && state.Watermark.Block(offset);
        }
    }

    /// <summary>Forgets revoked partitions; returns the offsets stored for them, to commit before they go.</summary>
    public List<TopicPartitionOffset> Revoke(IEnumerable<TopicPartition> partitions)
    {
        var stored = new List<TopicPartitionOffset>();
        lock (_lock)
        {
            foreach (TopicPartition partition in partitions)
            {
                if (_partitions.Remove(partition, out PartitionState? state) && state.Stored is { } offset)
                {
                    stored.Add(new TopicPartitionOffset(partition, new Offset(offset)));
                }
            }
        }

        return stored;
    }

    /// <summary>Stops storing (the consumer is closing); returns every partition's stored offset, to commit last.</summary>
    public List<TopicPartitionOffset> Close()
    {
        lock (_lock)
        {
            _closed = true;
            return Snapshot();
        }
    }

    /// <summary>Gets every tracked partition's stored offset: the next offset to consume after a restart.</summary>
    public List<TopicPartitionOffset> StoredOffsets()
    {
        lock (_lock)
        {
            return Snapshot();
        }
    }

    /// <summary>Gets how many offsets are tracked and not yet passed, over all partitions.</summary>
    public int Pending()
    {
        lock (_lock)
        {
            return _partitions.Values.Sum(static p => p.Watermark.Pending);
        }
    }

    private List<TopicPartitionOffset> Snapshot() =>
        [.. _partitions.Where(static p => p.Value.Stored is not null).Select(static p => new TopicPartitionOffset(p.Key, new Offset(p.Value.Stored!.Value)))];

    private void StoreIfAdvancedLocked(TopicPartition partition, PartitionState state)
    {
        if (_closed || state.Watermark.SafeSequence is not { } safe)
        {
            return;
        }

        long offset = safe + 1;
        if (state.Ceiling is { } ceiling)
        {
            if (state.FirstTracked <= ceiling && safe >= ceiling)
            {
                // Read again since the rewind, and final now: the ceiling has done its work.
                state.Ceiling = null;
            }
            else
            {
                offset = Math.Min(offset, ceiling);
            }
        }

        if (state.Stored is { } stored && offset <= stored)
        {
            return;
        }

        var position = new TopicPartitionOffset(partition, new Offset(offset));
        try
        {
            store(position);
            state.Stored = offset;
        }
        catch (Exception ex)
        {
            // The client refuses a store for a partition it no longer holds (a revocation it has not told us about
            // yet) or after it closed: nothing is stored, so nothing is committed past what is safe.
            try
            {
                StoreFailed?.Invoke(position, ex);
            }
            catch
            {
                // A logger that throws changes nothing.
            }
        }
    }

    private sealed class PartitionState
    {
        public ContiguousWatermark Watermark { get; } = new();

        public long? LastTracked { get; set; }

        // The first offset tracked since the watermark last started over.
        public long? FirstTracked { get; set; }

        // After a rewind: the first offset that had no final outcome then; nothing is stored past it until it is
        // final again (see Track).
        public long? Ceiling { get; set; }

        // Advanced since the last store (then also in _dirty).
        public bool Dirty { get; set; }

        // The offset last stored with the client (the next one to consume), or null before the first store.
        public long? Stored { get; set; }
    }
}
