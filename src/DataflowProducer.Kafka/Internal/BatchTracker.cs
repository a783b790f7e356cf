using System.Diagnostics;

namespace DataflowProducer.Kafka.Internal;

/// <summary>Collects the outcome of every message of one batch and completes the batch's acknowledgement when the
/// last one is known. One per batch: messages only carry a reference to it and their index.</summary>
/// <remarks>
/// <para>
/// Outcomes arrive from the client's delivery-report thread, from the accepting thread (serialization and produce
/// errors, an abort while waiting for room) and from a flush that gives up; each index is settled once
/// (compare-and-swap on its state byte), so an outcome that comes after the flush gave the message up is ignored
/// rather than counted twice.
/// </para>
/// <para>
/// Each index is <c>Free</c> (never handed to the client), <c>Handed</c> (passed to <c>Produce</c>, or about to be) or
/// <c>Settled</c>. The accepting thread moves an index to <c>Handed</c> before it calls <c>Produce</c> (and back when
/// the client refuses it with a full queue); a flush that gives up settles <c>Free</c> indexes as not sent and
/// <c>Handed</c> ones as unknown. Both transitions are compare-and-swaps on the same byte, so a message can only be
/// reported not sent if <c>Produce</c> was never called for it: a not-sent message is safe to send again.
/// </para>
/// <para>
/// Receipts cost nothing unless asked for: the array exists only when the tracker is built to report them.
/// </para>
/// </remarks>
internal sealed class BatchTracker
{
    private const byte Free = 0;
    private const byte Handed = 1;
    private const byte Settled = 2;

    private readonly byte[] _state;
    private readonly DeliveryReceipt[]? _receipts;
    private readonly TaskCompletionSource<BatchResult> _acknowledgement = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();

    // Guarded by _lock.
    private List<BatchItemError>? _failed;
    private List<int>? _unknown;
    private List<int>? _notSent;
    private int _remaining;

    public BatchTracker(int count, bool receipts = false)
    {
        _state = new byte[count];
        _remaining = count;
        _receipts = receipts && count > 0 ? new DeliveryReceipt[count] : null;
        if (count == 0)
        {
            _acknowledgement.TrySetResult(BatchResult.AllDelivered);
        }
    }

    public Task<BatchResult> Acknowledgement => _acknowledgement.Task;

    /// <summary>Gets a value indicating whether delivered messages should report where they landed.</summary>
    public bool WantsReceipts => _receipts is not null;

    public bool IsSettled(int index) => Volatile.Read(ref _state[index]) == Settled;

    /// <summary>Marks a message as being handed to the client; false when it was settled meanwhile (a flush gave it
    /// up as not sent), and then it must not be produced.</summary>
    public bool TryHandOver(int index) => Interlocked.CompareExchange(ref _state[index], Handed, Free) == Free;

    /// <summary>The client refused the message (its queue is full): it was not handed over after all.</summary>
    public void TakeBack(int index) => Interlocked.CompareExchange(ref _state[index], Free, Handed);

    public void Delivered(int index)
    {
        if (Claim(index))
        {
            Settle();
        }
    }

    public void Delivered(int index, DeliveryReceipt receipt)
    {
        if (_receipts is { } receipts)
        {
            // Written before the claim: the claim's fence publishes it. A receipt for a message that is settled
            // otherwise is ignored by the pipeline (receipts count only for delivered items).
            receipts[index] = receipt;
        }

        Delivered(index);
    }

    public void Failed(int index, Exception error)
    {
        if (Claim(index))
        {
            lock (_lock)
            {
                (_failed ??= []).Add(new BatchItemError(index, error));
            }

            Settle();
        }
    }

    /// <summary>Settles every message from <paramref name="start"/> on that was never handed to the client as not sent.</summary>
    public void NotSentFrom(int start)
    {
        for (int i = start; i < _state.Length; i++)
        {
            if (Interlocked.CompareExchange(ref _state[i], Settled, Free) == Free)
            {
                Record(ref _notSent, i);
            }
        }
    }

    /// <summary>Gives up on every message without an outcome: not sent if it never reached the client, unknown if it did.</summary>
    public void AbandonUnsettled()
    {
        for (int i = 0; i < _state.Length; i++)
        {
            if (Interlocked.CompareExchange(ref _state[i], Settled, Free) == Free)
            {
                Record(ref _notSent, i);
            }
            else if (Interlocked.CompareExchange(ref _state[i], Settled, Handed) == Handed)
            {
                Record(ref _unknown, i);
            }
        }
    }

    private void Record(ref List<int>? list, int index)
    {
        lock (_lock)
        {
            (list ??= []).Add(index);
        }

        Settle();
    }

    // Free or Handed to Settled, once.
    private bool Claim(int index)
    {
        while (true)
        {
            byte state = Volatile.Read(ref _state[index]);
            if (state == Settled)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _state[index], Settled, state) == state)
            {
                return true;
            }
        }
    }

    private void Settle()
    {
        int left = Interlocked.Decrement(ref _remaining);
        Debug.Assert(left >= 0, "More outcomes than messages.");
        if (left != 0)
        {
            return;
        }

        BatchResult result;
        lock (_lock)
        {
            result = _failed is null && _unknown is null && _notSent is null && _receipts is null
                ? BatchResult.AllDelivered
                : BatchResult.Create(_failed, _unknown, _notSent, _receipts);
        }

        _acknowledgement.TrySetResult(result);
    }
}
