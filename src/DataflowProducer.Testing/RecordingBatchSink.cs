namespace DataflowProducer.Testing;

/// <summary>
/// An in-memory <see cref="IBatchSink{T}"/> that records every batch. By default it acknowledges each batch as
/// delivered at once; it can also hold acknowledgements until released, fail chosen items, or throw on accept.
/// </summary>
/// <typeparam name="T">The type of the items.</typeparam>
/// <remarks>Thread-safe. Use it to test a pipeline without a broker.</remarks>
public sealed class RecordingBatchSink<T> : IBatchSink<T>
{
    private readonly object _lock = new();
    private readonly List<T[]> _batches = [];
    private readonly Queue<(T[] Batch, TaskCompletionSource<BatchResult> Ack)> _unacknowledged = new();
    private readonly List<(int Count, TaskCompletionSource Reached)> _waiters = [];
    private int _flushCount;

    /// <summary>Gets or sets a value indicating whether batches are acknowledged as soon as they are accepted.</summary>
    /// <value>The default is true. When false, acknowledge with <see cref="AcknowledgeNext"/> or <see cref="AcknowledgeAll"/>.</value>
    public bool AcknowledgeImmediately { get; set; } = true;

    /// <summary>Gets or sets a function that decides, per item, whether it fails: return the error, or null for delivered.</summary>
    /// <value>The default is null: every item is delivered.</value>
    public Func<T, Exception?>? FailWhen { get; set; }

    /// <summary>Gets or sets an exception to throw from <see cref="AcceptAsync"/> instead of accepting.</summary>
    /// <value>The default is null.</value>
    public Exception? ThrowOnAccept { get; set; }

    /// <summary>Gets or sets a value indicating whether <see cref="FlushAsync"/> marks still unacknowledged items as
    /// abandoned and completes their acknowledgements, the way a real client does when its flush times out.</summary>
    /// <value>The default is true.</value>
    public bool AbandonUnacknowledgedOnFlush { get; set; } = true;

    /// <summary>Gets a copy of the batches accepted so far, in order.</summary>
    public IReadOnlyList<T[]> Batches
    {
        get
        {
            lock (_lock)
            {
                return [.. _batches];
            }
        }
    }

    /// <summary>Gets a copy of all items accepted so far, in order.</summary>
    public IReadOnlyList<T> Items
    {
        get
        {
            lock (_lock)
            {
                return _batches.SelectMany(static b => b).ToArray();
            }
        }
    }

    /// <summary>Gets the number of accepted batches whose acknowledgement is still pending.</summary>
    public int PendingAcknowledgements
    {
        get
        {
            lock (_lock)
            {
                return _unacknowledged.Count;
            }
        }
    }

    /// <summary>Gets the number of times <see cref="FlushAsync"/> was called.</summary>
    public int FlushCount => Volatile.Read(ref _flushCount);

    /// <inheritdoc />
    public ValueTask<Task<BatchResult>> AcceptAsync(ReadOnlyMemory<T> batch, CancellationToken cancellationToken)
    {
        if (ThrowOnAccept is { } error)
        {
            throw error;
        }

        T[] copy = batch.ToArray();
        var ack = new TaskCompletionSource<BatchResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        List<TaskCompletionSource>? reached = null;
        lock (_lock)
        {
            _batches.Add(copy);
            _unacknowledged.Enqueue((copy, ack));
            for (int i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Count <= _batches.Count)
                {
                    (reached ??= []).Add(_waiters[i].Reached);
                    _waiters.RemoveAt(i);
                }
            }
        }

        reached?.ForEach(static r => r.TrySetResult());
        if (AcknowledgeImmediately)
        {
            AcknowledgeAll();
        }

        return ValueTask.FromResult(ack.Task);
    }

    /// <summary>Waits until the sink has accepted at least <paramref name="count"/> batches in all. The pipeline hands
    /// batches over on its own threads, so a test that acknowledges by hand waits with this before
    /// <see cref="AcknowledgeNext"/>.</summary>
    /// <param name="count">The number of batches, counted from the first one the sink accepted.</param>
    /// <param name="cancellationToken">Stops the wait.</param>
    /// <returns>A task that completes when that many batches have been accepted.</returns>
    public Task WaitForBatchesAsync(int count, CancellationToken cancellationToken = default)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (_batches.Count >= count)
            {
                return Task.CompletedTask;
            }

            _waiters.Add((count, reached));
        }

        return reached.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Acknowledges the oldest pending batch.</summary>
    /// <returns>False when no acknowledgement was pending.</returns>
    public bool AcknowledgeNext()
    {
        (T[] Batch, TaskCompletionSource<BatchResult> Ack) next;
        lock (_lock)
        {
            if (!_unacknowledged.TryDequeue(out next))
            {
                return false;
            }
        }

        next.Ack.TrySetResult(Evaluate(next.Batch));
        return true;
    }

    /// <summary>Acknowledges every pending batch, oldest first.</summary>
    /// <returns>The number of batches acknowledged.</returns>
    public int AcknowledgeAll()
    {
        int count = 0;
        while (AcknowledgeNext())
        {
            count++;
        }

        return count;
    }

    /// <inheritdoc />
    public Task FlushAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _flushCount);
        if (!AbandonUnacknowledgedOnFlush)
        {
            return Task.CompletedTask;
        }

        List<(T[] Batch, TaskCompletionSource<BatchResult> Ack)> left;
        lock (_lock)
        {
            left = [.. _unacknowledged];
            _unacknowledged.Clear();
        }

        foreach (var (batch, ack) in left)
        {
            ack.TrySetResult(BatchResult.Create(null, Enumerable.Range(0, batch.Length)));
        }

        return Task.CompletedTask;
    }

    private BatchResult Evaluate(T[] batch)
    {
        if (FailWhen is not { } failWhen)
        {
            return BatchResult.AllDelivered;
        }

        List<BatchItemError>? list = null;
        for (int i = 0; i < batch.Length; i++)
        {
            if (failWhen(batch[i]) is { } error)
            {
                (list ??= []).Add(new BatchItemError(i, error));
            }
        }

        return BatchResult.Create(list);
    }
}
