using System.Diagnostics;

namespace DataflowProducer;

// Bytes (BatchProducerOptions.BoundedBytes and MaxBatchBytes), for BatchProducerBlock in hold mode only. The size of
// an item is computed by the owner before it offers the item (user code never runs under _lock) and travels with the
// offer: into the open batch, with a postponed offer (_postponedSizes, in step with _postponed), and with a batch
// until the owner releases it (_batchBytes). With bytes off (_bytes false) none of this runs: one branch per call.
public sealed partial class LingerBatchBlock<T>
{
    // Set by the constructor and never changed: read without the lock. -1 is off.
    private readonly long _boundedBytes = -1;
    private readonly long _maxBatchBytes = -1;
    private readonly bool _bytes;

    // Guarded by _lock (_heldBytes is also read without it, Volatile, for a statistics snapshot). _heldBytes counts
    // the bytes of everything _held counts; _pendingConsumeBytes those of items being fetched from a source.
    private long _heldBytes;
    private long _openBytes;
    private long _pendingConsumeBytes;
    private readonly Queue<long> _postponedSizes = new();
    private readonly Dictionary<T[], long> _batchBytes = new(ReferenceEqualityComparer.Instance);

    /// <summary>Gets the bytes the block holds now (0 when bytes are not bounded), without the lock.</summary>
    internal long HeldBytes => Volatile.Read(ref _heldBytes);

    // An item that does not fit waits until the block holds nothing: alone, however large it is, so it can never
    // deadlock; until then the offers behind it wait too (they are taken in order). Compared by subtraction: a size
    // near long.MaxValue must not wrap the sum round to a negative number that fits.
    private bool HasByteRoom(long size)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        return _boundedBytes < 0 || _heldBytes == 0 || size <= _boundedBytes - _heldBytes;
    }

    // A batch that cannot grow must go: when an offer could not fit even once the batches in flight give their bytes
    // back (the open batch alone leaves no room for it), the open batch closes, or the bytes it holds would come back
    // only at its linger deadline (never, count-only) and the offer would wait that long. An offer short of room only
    // while batches are in flight leaves the open batch to grow. True when a batch was emitted (the caller starts
    // offering after the lock).
    private bool CloseForByteRoom(long size)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        return _bytes && _boundedBytes >= 0 && _openCount > 0 && size > _boundedBytes - _openBytes && CloseOpenBatch();
    }

    // The size of the offer that would be taken next from the postponed queue.
    private long NextPostponedSize()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        return _bytes && _postponedSizes.Count > 0 ? _postponedSizes.Peek() : 0;
    }

    // Room held (or given back) for an item being fetched from its source outside the lock.
    private void HoldBytesForConsume(long size)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        if (_bytes)
        {
            Volatile.Write(ref _heldBytes, Sum(_heldBytes, size));
            _pendingConsumeBytes = Sum(_pendingConsumeBytes, size);
        }
    }

    private void ReturnBytesForConsume(long size) => HoldBytesForConsume(-size);

    // Before an item joins the open batch: true when the open batch was closed because the item would take it past
    // MaxBatchBytes (an item larger than MaxBatchBytes then goes into a batch of its own).
    private bool CloseBeforeBytesExceeded(long size)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        return _maxBatchBytes >= 0 && _openCount > 0 && size > _maxBatchBytes - _openBytes && CloseOpenBatch();
    }

    // After an item joined the open batch: its bytes are held; true when the batch has reached MaxBatchBytes.
    private bool AddBytes(long size)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        _openBytes = Sum(_openBytes, size);
        Volatile.Write(ref _heldBytes, Sum(_heldBytes, size));
        return _maxBatchBytes >= 0 && _openBytes >= _maxBatchBytes;
    }

    // A batch is closed: its bytes go with it until Release.
    private void CloseBytes(T[] batch)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        _batchBytes[batch] = _openBytes;
        _openBytes = 0;
    }

    private long ReleaseBytes(T[] batch)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        if (!_batchBytes.Remove(batch, out long bytes))
        {
            return 0;
        }

        Volatile.Write(ref _heldBytes, Math.Max(0, _heldBytes - bytes));
        return bytes;
    }

    // Byte counts saturate instead of wrapping: an ItemSize near long.MaxValue (a sentinel for "huge") must not turn a
    // count negative, which would make every later offer fit. Never below zero.
    private static long Sum(long count, long size) =>
        size > 0 && count > long.MaxValue - size ? long.MaxValue : Math.Max(0, count + size);

    // The abort dropped what the block held: only the items still being fetched hold bytes.
    private void ResetBytesOnAbort()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        _batchBytes.Clear();
        _openBytes = 0;
        Volatile.Write(ref _heldBytes, _pendingConsumeBytes);
    }
}
