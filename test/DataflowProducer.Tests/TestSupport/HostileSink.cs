namespace DataflowProducer.Tests.TestSupport;

/// <summary>How <see cref="HostileSink.AcceptAsync"/> misbehaves.</summary>
public enum HostileAccept
{
    /// <summary>Well behaved: every item delivered at once.</summary>
    Deliver,

    /// <summary>Every third item (by value) fails; the rest are delivered.</summary>
    FailEveryThird,

    /// <summary>Throws before returning.</summary>
    Throw,

    /// <summary>Returns a faulted task.</summary>
    Faulted,

    /// <summary>Returns a null acknowledgement task.</summary>
    NullAcknowledgement,

    /// <summary>The acknowledgement completes with a null result.</summary>
    NullResult,

    /// <summary>The acknowledgement faults.</summary>
    AcknowledgementFaults,

    /// <summary>The acknowledgement is canceled.</summary>
    AcknowledgementCanceled,

    /// <summary>The acknowledgement never completes.</summary>
    AcknowledgementNever,

    /// <summary>The result names indexes outside the batch.</summary>
    IndexOutOfRange,

    /// <summary>Blocks its thread until released, whatever the token says.</summary>
    BlockThread,

    /// <summary>Never returns and ignores the token.</summary>
    IgnoreCancellation,
}

/// <summary>How <see cref="HostileSink.FlushAsync"/> misbehaves.</summary>
public enum HostileFlush
{
    /// <summary>Well behaved: returns at once.</summary>
    Normal,

    /// <summary>Throws before returning.</summary>
    Throw,

    /// <summary>Returns null instead of a task.</summary>
    ReturnNull,

    /// <summary>Returns a faulted task.</summary>
    Faulted,

    /// <summary>Returns a canceled task.</summary>
    Canceled,

    /// <summary>Blocks its thread until released, whatever the token or the timeout say.</summary>
    BlockThread,

    /// <summary>Returns a task that never completes and ignores the token.</summary>
    Never,
}

/// <summary>
/// A sink that misbehaves the way user code can: throwing, faulting, returning null, canceling, blocking its thread,
/// never finishing. Threads it blocks are released by <see cref="Dispose"/>, so a test cannot leak them.
/// </summary>
internal sealed class HostileSink(HostileAccept accept, HostileFlush flush = HostileFlush.Normal) : IBatchSink<int>, IDisposable
{
    private readonly ManualResetEventSlim _release = new();
    private int _blockedThreads;
    private int _accepts;
    private int _flushes;

    /// <summary>Threads blocked in the sink now: a quiet-pool wait counts them as part of its baseline.</summary>
    public int BlockedThreads => Volatile.Read(ref _blockedThreads);

    public int Accepts => Volatile.Read(ref _accepts);

    public int Flushes => Volatile.Read(ref _flushes);

    public ValueTask<Task<BatchResult>> AcceptAsync(ReadOnlyMemory<int> batch, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _accepts);
        int[] items = batch.ToArray();
        return accept switch
        {
            HostileAccept.Deliver => Acknowledged(BatchResult.AllDelivered),
            HostileAccept.FailEveryThird => Acknowledged(BatchResult.Create(items.Select((item, index) => (item, index)).Where(static p => p.item % 3 == 0).Select(static p => new BatchItemError(p.index, new InvalidOperationException($"item {p.item} refused"))))),
            HostileAccept.Throw => throw new InvalidOperationException("accept threw"),
            HostileAccept.Faulted => ValueTask.FromException<Task<BatchResult>>(new InvalidOperationException("accept faulted")),
            HostileAccept.NullAcknowledgement => ValueTask.FromResult<Task<BatchResult>>(null!),
            HostileAccept.NullResult => ValueTask.FromResult(Task.FromResult<BatchResult>(null!)),
            HostileAccept.AcknowledgementFaults => ValueTask.FromResult(Task.FromException<BatchResult>(new InvalidOperationException("acknowledgement faulted"))),
            HostileAccept.AcknowledgementCanceled => ValueTask.FromResult(Task.FromCanceled<BatchResult>(new CancellationToken(canceled: true))),
            HostileAccept.AcknowledgementNever => ValueTask.FromResult(new TaskCompletionSource<BatchResult>().Task),
            HostileAccept.IndexOutOfRange => Acknowledged(BatchResult.Create([new BatchItemError(items.Length, new InvalidOperationException("beyond the batch"))], [-1])),
            HostileAccept.BlockThread => Block(() => Acknowledged(BatchResult.AllDelivered)),
            HostileAccept.IgnoreCancellation => new ValueTask<Task<BatchResult>>(new TaskCompletionSource<Task<BatchResult>>().Task),
            _ => throw new InvalidOperationException($"unknown mode {accept}"),
        };
    }

    public Task FlushAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _flushes);
        return FlushCore();
    }

    private Task FlushCore() => flush switch
    {
        HostileFlush.Normal => Task.CompletedTask,
        HostileFlush.Throw => throw new InvalidOperationException("flush threw"),
        HostileFlush.ReturnNull => null!,
        HostileFlush.Faulted => Task.FromException(new InvalidOperationException("flush faulted")),
        HostileFlush.Canceled => Task.FromCanceled(new CancellationToken(canceled: true)),
        HostileFlush.BlockThread => Block(() => Task.CompletedTask),
        HostileFlush.Never => new TaskCompletionSource().Task,
        _ => throw new InvalidOperationException($"unknown mode {flush}"),
    };

    public void Dispose()
    {
        _release.Set();
    }

    private static ValueTask<Task<BatchResult>> Acknowledged(BatchResult result) => ValueTask.FromResult(Task.FromResult(result));

    private TResult Block<TResult>(Func<TResult> then)
    {
        Interlocked.Increment(ref _blockedThreads);
        try
        {
            _release.Wait();
        }
        finally
        {
            Interlocked.Decrement(ref _blockedThreads);
        }

        return then();
    }
}
