namespace DataflowProducer.Kafka.Internal;

/// <summary>Wakes a sink waiting for room in the client's queue when a delivery report frees some. Pulsing is one
/// volatile read when nobody waits, so the delivery-report thread pays nothing in the common case.</summary>
internal sealed class RoomSignal
{
    private TaskCompletionSource? _waiter;

    /// <summary>Waits for a pulse, at most <paramref name="atMost"/>; throws only when canceled.</summary>
    public async Task WaitAsync(TimeSpan atMost, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _waiter, waiter);
        try
        {
            await waiter.Task.WaitAsync(atMost, timeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // No report arrived in time: try again anyway; the client may have sent without reporting yet.
        }
    }

    public void Pulse()
    {
        if (Volatile.Read(ref _waiter) is not null)
        {
            Interlocked.Exchange(ref _waiter, null)?.TrySetResult();
        }
    }
}
