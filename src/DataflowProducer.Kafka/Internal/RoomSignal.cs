namespace DataflowProducer.Kafka.Internal;

/// <summary>Wakes a sink waiting for room in the client's queue when a delivery report frees some.</summary>
/// <remarks>A report can free room at any moment, also after the client refused a message and before the sink starts
/// waiting. So every pulse bumps a version, the sink reads <see cref="Version"/> before it tries to produce, and a wait
/// for that version returns at once when a pulse came in between. The waiter is published with a full fence before
/// the version is checked, and a pulse bumps the version with a full fence before it looks for a waiter: one of the
/// two always sees the other, so no pulse is lost. Pulsing costs one interlocked increment on the delivery-report
/// thread.</remarks>
internal sealed class RoomSignal
{
    private TaskCompletionSource? _waiter;
    private int _version;

    /// <summary>Gets the number of pulses so far; read it before an attempt that may be refused.</summary>
    public int Version => Volatile.Read(ref _version);

    /// <summary>Waits for a pulse after <paramref name="observedVersion"/>, at most <paramref name="atMost"/>; throws
    /// only when canceled.</summary>
    public async Task WaitAsync(int observedVersion, TimeSpan atMost, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Exchange(ref _waiter, waiter);
        if (Volatile.Read(ref _version) != observedVersion)
        {
            // Room was freed since the attempt: retry now.
            Interlocked.CompareExchange(ref _waiter, null, waiter);
            return;
        }

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
        Interlocked.Increment(ref _version);
        if (Volatile.Read(ref _waiter) is not null)
        {
            Interlocked.Exchange(ref _waiter, null)?.TrySetResult();
        }
    }
}
