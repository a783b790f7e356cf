using System.Diagnostics;

namespace DataflowProducer;

// Batching (DESIGN §4 points 1, 2, 4, 5): the open batch and when it closes. The linger clock starts when an item
// enters an empty batch (Add) and is read from the injected TimeProvider; a batch closes at BatchSize (Add), at its
// deadline (OnTimer, which ignores a stale timer), on TriggerBatch, or on Complete (CloseOpenBatch). Hold mode
// (Release) is how BatchProducerBlock keeps taken items counted against BoundedCapacity.
public sealed partial class LingerBatchBlock<T>
{
    /// <summary>Emits the open batch now, if it holds any item. Does nothing otherwise (no empty batches).</summary>
    public void TriggerBatch()
    {
        bool startOffer;
        lock (_lock)
        {
            startOffer = CloseOpenBatch();
        }

        if (startOffer)
        {
            StartOffering();
        }
    }

    // Adds an accepted item to the open batch; returns true when a batch was emitted.
    private bool Add(T item, long size = 0)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        bool emitted = _bytes && CloseBeforeBytesExceeded(size);
        if (_openCount == 0)
        {
            _open ??= new T[Math.Min(_batchSize, Math.Max(_lastBatchCount, 16))];
            if (_timer is not null && _batchSize > 1)
            {
                _openDeadline = _timeProvider.GetTimestamp() + _lingerTicks;
                _timer.Change(_linger, Timeout.InfiniteTimeSpan);
            }
        }
        else if (_openCount == _open!.Length)
        {
            Array.Resize(ref _open, Math.Min(_batchSize, _open.Length * 2));
        }

        _open![_openCount++] = item;
        _held++;
        _acceptedCount++;
        bool full = _openCount == _batchSize | (_bytes && AddBytes(size));
        return (full && CloseOpenBatch()) | emitted;
    }

    // Returns true when a batch was emitted.
    private bool CloseOpenBatch()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        if (_openCount == 0 || _completed)
        {
            return false;
        }

        T[] batch = _open!;
        if (_openCount != batch.Length)
        {
            Array.Resize(ref batch, _openCount);
        }

        if (_bytes)
        {
            CloseBytes(batch);
        }

        _lastBatchCount = _openCount;
        _open = null;
        _openCount = 0;
        _output.Enqueue(batch);
        Debug.Assert(_held <= (_boundedCapacity < 0 ? int.MaxValue : _boundedCapacity) || _pendingConsumes > 0 || _declining, "Bounded capacity exceeded.");
        return true;
    }

    private void OnTimer()
    {
        bool startOffer = false;
        lock (_lock)
        {
            if (_openCount == 0 || _completed)
            {
                return;
            }

            long remaining = _openDeadline - _timeProvider.GetTimestamp();
            if (remaining > 0)
            {
                // A timer armed for an earlier batch fired after a new batch opened (or the clock fired early):
                // the open batch keeps its own deadline.
                _timer!.Change(TimeSpan.FromSeconds(remaining / (double)_timeProvider.TimestampFrequency), Timeout.InfiniteTimeSpan);
            }
            else
            {
                startOffer = CloseOpenBatch();
            }
        }

        if (startOffer)
        {
            StartOffering();
        }
    }

    // In hold mode: the owner abandoned a batch taken earlier after this block had completed (so this block's own
    // abort, which resets the bytes, will not run): its bytes are given back; the items' capacity no longer matters.
    internal void ForgetBytes(T[] batch)
    {
        if (!_bytes)
        {
            return;
        }

        lock (_lock)
        {
            ReleaseBytes(batch);
        }
    }

    // In hold mode: the owner reports that a batch taken earlier no longer occupies capacity (items and bytes).
    internal void Release(T[] batch)
    {
        Debug.Assert(_holdUntilReleased, "Release is only meaningful in hold mode.");
        lock (_lock)
        {
            _held = Math.Max(0, _held - batch.Length);
            if (_bytes)
            {
                ReleaseBytes(batch);
            }
        }

        StartTakingPostponed();
    }
}
