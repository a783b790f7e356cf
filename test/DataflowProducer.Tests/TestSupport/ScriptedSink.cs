namespace DataflowProducer.Tests.TestSupport;

/// <summary>How the next <see cref="ScriptedSink.AcceptAsync"/> call behaves.</summary>
internal enum AcceptMode
{
    /// <summary>Takes the batch at once and returns an acknowledgement the test completes later.</summary>
    Take,

    /// <summary>Throws: the sink is broken.</summary>
    Throw,

    /// <summary>Waits until the test releases it, or until the pipeline's token is canceled (then throws).</summary>
    Hang,

    /// <summary>Waits until the test releases it, ignoring the pipeline's token (a sink that does not honour cancellation).</summary>
    HangIgnoringCancellation,
}

/// <summary>
/// A hand-written <see cref="IBatchSink{T}"/> of ints for tests that script every step: each accept behaves as the
/// next queued <see cref="AcceptMode"/> says (default <see cref="AcceptMode.Take"/>), acknowledgements are held until
/// the test completes, fails or faults them, and the flush abandons whatever is still held (as the contract asks).
/// It remembers what it was told about every item, so a test can check the block's report against the sink's.
/// </summary>
internal sealed class ScriptedSink : IBatchSink<int>
{
    private readonly object _lock = new();
    private readonly Queue<AcceptMode> _script = new();
    private readonly List<int[]> _calls = [];
    private readonly List<Held> _acks = [];
    private readonly List<(int[] Batch, TaskCompletionSource Release)> _hangs = [];
    private readonly HashSet<int> _deliveredBySink = [];
    private readonly HashSet<int> _failedBySink = [];
    private readonly List<string> _violations = [];
    private readonly List<(int Count, TaskCompletionSource Reached)> _callWaiters = [];
    private int _flushes;

    /// <summary>Checked on every accept: true means the block has already finished (a violation).</summary>
    public Func<bool>? IsBlockFinished { get; set; }

    public int Flushes
    {
        get
        {
            lock (_lock)
            {
                return _flushes;
            }
        }
    }

    /// <summary>Every batch handed to <see cref="AcceptAsync"/>, in call order, whatever the call did.</summary>
    public IReadOnlyList<int[]> Calls
    {
        get
        {
            lock (_lock)
            {
                return [.. _calls];
            }
        }
    }

    public int PendingAcks
    {
        get
        {
            lock (_lock)
            {
                return _acks.Count;
            }
        }
    }

    public int Hangs
    {
        get
        {
            lock (_lock)
            {
                return _hangs.Count;
            }
        }
    }

    public IReadOnlySet<int> DeliveredBySink
    {
        get
        {
            lock (_lock)
            {
                return new HashSet<int>(_deliveredBySink);
            }
        }
    }

    public IReadOnlySet<int> FailedBySink
    {
        get
        {
            lock (_lock)
            {
                return new HashSet<int>(_failedBySink);
            }
        }
    }

    public IReadOnlyList<string> Violations
    {
        get
        {
            lock (_lock)
            {
                return [.. _violations];
            }
        }
    }

    public void Script(AcceptMode mode)
    {
        lock (_lock)
        {
            _script.Enqueue(mode);
        }
    }

    /// <summary>Completes when at least <paramref name="count"/> accept calls were made.</summary>
    public Task WhenCalls(int count)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (_calls.Count >= count)
            {
                return Task.CompletedTask;
            }

            _callWaiters.Add((count, reached));
        }

        return reached.Task;
    }

    public ValueTask<Task<BatchResult>> AcceptAsync(ReadOnlyMemory<int> batch, CancellationToken cancellationToken)
    {
        int[] copy = batch.ToArray();
        AcceptMode mode;
        List<TaskCompletionSource>? reached = null;
        lock (_lock)
        {
            if (IsBlockFinished?.Invoke() == true)
            {
                _violations.Add($"AcceptAsync([{string.Join(",", copy)}]) after the block finished");
            }

            mode = _script.Count > 0 ? _script.Dequeue() : AcceptMode.Take;
            _calls.Add(copy);
            for (int i = _callWaiters.Count - 1; i >= 0; i--)
            {
                if (_callWaiters[i].Count <= _calls.Count)
                {
                    (reached ??= []).Add(_callWaiters[i].Reached);
                    _callWaiters.RemoveAt(i);
                }
            }
        }

        reached?.ForEach(static r => r.TrySetResult());
        return mode switch
        {
            AcceptMode.Throw => throw new SinkBrokenException($"The sink is broken (batch starting with {copy[0]})."),
            AcceptMode.Hang => HangAsync(copy, honourCancellation: true, cancellationToken),
            AcceptMode.HangIgnoringCancellation => HangAsync(copy, honourCancellation: false, cancellationToken),
            _ => ValueTask.FromResult(Take(copy)),
        };
    }

    public Task FlushAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        List<Held> held;
        lock (_lock)
        {
            _flushes++;
            held = [.. _acks];
            _acks.Clear();
        }

        foreach (Held h in held)
        {
            h.Ack.TrySetResult(BatchResult.Create(null, Enumerable.Range(0, h.Batch.Length)));
        }

        return Task.CompletedTask;
    }

    /// <summary>Completes the <paramref name="pick"/>-th held acknowledgement (modulo their number).</summary>
    /// <param name="pick">Which one; any number.</param>
    /// <param name="failMask">Bit i (of 0..15, repeating) fails item i.</param>
    /// <param name="abandonMask">Bit i abandons item i unless it failed.</param>
    /// <param name="fault">Faults the acknowledgement itself instead.</param>
    /// <returns>False when none was held.</returns>
    public bool Acknowledge(int pick, int failMask = 0, int abandonMask = 0, bool fault = false)
    {
        Held held;
        var failures = new List<BatchItemError>();
        var abandoned = new List<int>();
        lock (_lock)
        {
            if (_acks.Count == 0)
            {
                return false;
            }

            held = _acks[(int)((uint)pick % (uint)_acks.Count)];
            _acks.Remove(held);
            for (int i = 0; i < held.Batch.Length; i++)
            {
                int bit = 1 << (i % 16);
                if (fault || (failMask & bit) != 0)
                {
                    _failedBySink.Add(held.Batch[i]);
                    failures.Add(new BatchItemError(i, new ItemRejectedException($"item {held.Batch[i]} rejected by the sink")));
                }
                else if ((abandonMask & bit) != 0)
                {
                    abandoned.Add(i);
                }
                else
                {
                    _deliveredBySink.Add(held.Batch[i]);
                }
            }
        }

        if (fault)
        {
            held.Ack.TrySetException(new IOException("The acknowledgement itself failed."));
        }
        else
        {
            held.Ack.TrySetResult(BatchResult.Create(failures, abandoned));
        }

        return true;
    }

    /// <summary>Lets the <paramref name="pick"/>-th hanging accept return (modulo their number).</summary>
    public bool ReleaseHang(int pick)
    {
        TaskCompletionSource release;
        lock (_lock)
        {
            if (_hangs.Count == 0)
            {
                return false;
            }

            int index = (int)((uint)pick % (uint)_hangs.Count);
            release = _hangs[index].Release;
            _hangs.RemoveAt(index);
        }

        release.TrySetResult();
        return true;
    }

    private Task<BatchResult> Take(int[] batch)
    {
        var ack = new TaskCompletionSource<BatchResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            _acks.Add(new Held(batch, ack));
        }

        return ack.Task;
    }

    private async ValueTask<Task<BatchResult>> HangAsync(int[] batch, bool honourCancellation, CancellationToken cancellationToken)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            _hangs.Add((batch, release));
        }

        if (honourCancellation)
        {
            await release.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await release.Task.ConfigureAwait(false);
        }

        return Take(batch);
    }

    private sealed record Held(int[] Batch, TaskCompletionSource<BatchResult> Ack);
}

internal sealed class SinkBrokenException(string message) : Exception(message);

internal sealed class ItemRejectedException(string message) : Exception(message);
