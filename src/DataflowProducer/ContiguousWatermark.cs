using System.Diagnostics;

namespace DataflowProducer;

/// <summary>
/// Tells how far a source may be acknowledged when its items finish out of order: sequence numbers go in as items are
/// taken (in increasing order, gaps allowed), completions come in any order, and <see cref="SafeSequence"/> is the
/// highest sequence such that it and every sequence tracked before it are complete.
/// </summary>
/// <remarks>
/// <para>
/// The helper behind acknowledge-after-delivery for any source with ordered positions: Kafka offsets (which have gaps:
/// compaction, transaction markers), a database outbox's identity column, a file's line numbers. Track each position
/// when the item is read, complete it when its outcome is final (delivered, or handled), and acknowledge the source up
/// to <see cref="SafeSequence"/> (for Kafka, commit <c>SafeSequence + 1</c>).
/// </para>
/// <para>
/// A sequence whose item failed and was not handled is <see cref="Block">blocked</see>: the watermark never passes it,
/// whatever completes after it, until <see cref="Reset"/>. Completing or blocking a sequence that is not tracked (never
/// tracked, already passed, or forgotten by a reset) does nothing and returns false, so a late completion after a
/// partition was revoked is harmless.
/// </para>
/// <para>
/// Thread-safe: one lock guards the state; no user code runs under it. Memory is one entry per tracked sequence the
/// watermark has not passed yet (a ring buffer that grows as needed); completion looks its sequence up by binary search.
/// </para>
/// </remarks>
[DebuggerDisplay("SafeSequence = {SafeSequence}, Pending = {Pending}, IsBlocked = {IsBlocked}")]
public sealed class ContiguousWatermark
{
    private const byte Open = 0;
    private const byte Done = 1;
    private const byte Stuck = 2;

    private readonly Lock _lock = new();

    // Guarded by _lock. The tracked sequences not yet passed, in increasing order: a ring of _count entries from _head.
    private long[] _sequences = new long[16];
    private byte[] _states = new byte[16];
    private int _head;
    private int _count;
    private long? _lastTracked;
    private long? _safe;
    private int _blocked;

    /// <summary>Gets the highest sequence that is safe to acknowledge: it and every sequence tracked before it (since
    /// the start or the last <see cref="Reset"/>) are complete.</summary>
    /// <value>Null while nothing is safe yet.</value>
    public long? SafeSequence
    {
        get
        {
            lock (_lock)
            {
                return _safe;
            }
        }
    }

    /// <summary>Gets how many tracked sequences the watermark has not passed yet (open, complete behind an open one, or blocked).</summary>
    public int Pending
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    /// <summary>Gets a value indicating whether a blocked sequence holds the watermark until <see cref="Reset"/>.</summary>
    public bool IsBlocked
    {
        get
        {
            lock (_lock)
            {
                return _blocked > 0;
            }
        }
    }

    /// <summary>Starts tracking a sequence: the watermark will not pass it until it is complete.</summary>
    /// <param name="sequence">The sequence; greater than every sequence tracked before (gaps are allowed).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="sequence"/> is not greater than the last tracked one.</exception>
    public void Track(long sequence)
    {
        lock (_lock)
        {
            if (_lastTracked is { } last && sequence <= last)
            {
                throw new ArgumentOutOfRangeException(nameof(sequence), sequence, $"Sequences must be tracked in increasing order, but {sequence} came after {last}.");
            }

            if (_count == _sequences.Length)
            {
                Grow();
            }

            int slot = Slot(_count);
            _sequences[slot] = sequence;
            _states[slot] = Open;
            _count++;
            _lastTracked = sequence;
        }
    }

    /// <summary>Marks a tracked sequence complete (its item's outcome is final), in any order.</summary>
    /// <param name="sequence">The sequence.</param>
    /// <returns>True when the sequence was tracked and open; false when it is not tracked, already complete or blocked.</returns>
    public bool Complete(long sequence) => Settle(sequence, Done);

    /// <summary>Marks a tracked sequence blocked: its item failed and was not handled, so the watermark stops before it
    /// until <see cref="Reset"/>.</summary>
    /// <param name="sequence">The sequence.</param>
    /// <returns>True when the sequence was tracked and open; false when it is not tracked, already complete or blocked.</returns>
    public bool Block(long sequence) => Settle(sequence, Stuck);

    /// <summary>Forgets everything: tracked sequences, blocks and the safe sequence (for example when a Kafka partition is
    /// revoked). The next <see cref="Track"/> may start at any sequence.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _head = 0;
            _count = 0;
            _lastTracked = null;
            _safe = null;
            _blocked = 0;
        }
    }

    private bool Settle(long sequence, byte state)
    {
        lock (_lock)
        {
            int index = Find(sequence);
            if (index < 0)
            {
                return false;
            }

            int slot = Slot(index);
            if (_states[slot] != Open)
            {
                return false;
            }

            _states[slot] = state;
            if (state == Stuck)
            {
                _blocked++;
            }
            else if (index == 0)
            {
                Advance();
            }

            return true;
        }
    }

    // Passes every complete sequence at the head.
    private void Advance()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "The caller holds the lock.");
        while (_count > 0 && _states[_head] == Done)
        {
            _safe = _sequences[_head];
            _head = (_head + 1) % _sequences.Length;
            _count--;
        }
    }

    // The position (0 = head) of a tracked sequence, or -1.
    private int Find(long sequence)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "The caller holds the lock.");
        int low = 0;
        int high = _count - 1;
        while (low <= high)
        {
            int middle = low + ((high - low) / 2);
            long found = _sequences[Slot(middle)];
            if (found == sequence)
            {
                return middle;
            }

            if (found < sequence)
            {
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }

        return -1;
    }

    private int Slot(int index) => (_head + index) % _sequences.Length;

    private void Grow()
    {
        var sequences = new long[_sequences.Length * 2];
        var states = new byte[_states.Length * 2];
        for (int i = 0; i < _count; i++)
        {
            sequences[i] = _sequences[Slot(i)];
            states[i] = _states[Slot(i)];
        }

        _sequences = sequences;
        _states = states;
        _head = 0;
    }
}
