using System.Diagnostics;

namespace DataflowProducer.Kafka.Internal;

/// <summary>Collects the outcome of every message of one batch and completes the batch's acknowledgement when the
/// last one is known. One per batch: messages only carry a reference to it and their index.</summary>
/// <remarks>Outcomes arrive from the client's delivery-report thread, from the accepting thread (serialization and
/// produce errors) and from a flush that gives up; each index is claimed once (compare-and-swap on its state byte),
/// so an outcome that comes after the flush abandoned the message is ignored rather than counted twice.</remarks>
internal sealed class BatchTracker
{
    private readonly byte[] _settled;
    private readonly TaskCompletionSource<BatchResult> _acknowledgement = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _lock = new();
    private List<BatchItemError>? _failed;
    private List<int>? _abandoned;
    private int _remaining;

    public BatchTracker(int count)
    {
        _settled = new byte[count];
        _remaining = count;
        if (count == 0)
        {
            _acknowledgement.TrySetResult(BatchResult.AllDelivered);
        }
    }

    public Task<BatchResult> Acknowledgement => _acknowledgement.Task;

    public bool IsSettled(int index) => Volatile.Read(ref _settled[index]) != 0;

    public void Delivered(int index)
    {
        if (Claim(index))
        {
            Settled();
        }
    }

    public void Failed(int index, Exception error)
    {
        if (Claim(index))
        {
            lock (_lock)
            {
                (_failed ??= []).Add(new BatchItemError(index, error));
            }

            Settled();
        }
    }

    public void AbandonFrom(int start)
    {
        for (int i = start; i < _settled.Length; i++)
        {
            Abandon(i);
        }
    }

    public void AbandonUnsettled() => AbandonFrom(0);

    private void Abandon(int index)
    {
        if (Claim(index))
        {
            lock (_lock)
            {
                (_abandoned ??= []).Add(index);
            }

            Settled();
        }
    }

    private bool Claim(int index) => Interlocked.CompareExchange(ref _settled[index], 1, 0) == 0;

    private void Settled()
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
            result = _failed is null && _abandoned is null ? BatchResult.AllDelivered : BatchResult.Create(_failed, _abandoned);
        }

        _acknowledgement.TrySetResult(result);
    }
}
