using System.Diagnostics;
using System.Threading.Channels;
using System.Threading.Tasks.Dataflow;

namespace DataflowProducer.Internal;

/// <summary>
/// The outcomes source (DESIGN 4.17): batch outcomes in, emitted in batch-number order through a bounded
/// <see cref="BufferBlock{T}"/>. Whoever settles a batch adds its outcome (usually the reporter, in order; on an abort,
/// whichever path claimed the batch); a reorder step holds an early one until the numbers before it have come.
/// </summary>
/// <typeparam name="T">The type of the items.</typeparam>
/// <remarks>
/// One pump task sends outcomes into the buffer one at a time, waiting while the buffer is full and never giving up
/// on one, so no outcome is lost to an abort. The reporter waits (<see cref="WaitForRoomAsync"/>) until the pump has
/// caught up before it reports the next batch: a slow reader holds the pipeline back, and what is held is the buffer's
/// capacity plus one. After <see cref="Complete"/> the pump sends what is left and completes the buffer, whether or
/// not the pipeline finished cleanly: the outcomes say what went wrong, and the buffer's own fault would drop them.
/// </remarks>
internal sealed class OutcomeEmitter<T>
{
    private readonly BufferBlock<BatchOutcome<T>> _buffer;
    private readonly Channel<BatchOutcome<T>> _ordered = Channel.CreateUnbounded<BatchOutcome<T>>(new UnboundedChannelOptions { SingleReader = true });
    private TaskCompletionSource _caughtUp = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Guards _early, _next and _completed.
    private readonly object _lock = new();
    private readonly Dictionary<long, BatchOutcome<T>> _early = [];
    private bool _completed;
    private long _next = 1;
    private int _queued;
    private int _broken;    // the pump failed: nothing is waited for any more

    public OutcomeEmitter(int capacity)
    {
        _buffer = new BufferBlock<BatchOutcome<T>>(new DataflowBlockOptions { BoundedCapacity = capacity });
        _ = PumpAsync();
    }

    public ISourceBlock<BatchOutcome<T>> Source => _buffer;

    /// <summary>Adds a settled batch's outcome; each batch number once.</summary>
    public void Add(BatchOutcome<T> outcome)
    {
        lock (_lock)
        {
            if (_completed)
            {
                // Only after an internal error, when Complete came first: nothing waits for this outcome.
                return;
            }

            if (outcome.Number != _next)
            {
                _early.Add(outcome.Number, outcome);
                return;
            }

            Enqueue(outcome);
            while (_early.Remove(_next, out BatchOutcome<T>? early))
            {
                Enqueue(early);
            }
        }
    }

    /// <summary>Waits until every outcome added so far is in the buffer.</summary>
    public async ValueTask WaitForRoomAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            // The signal first, then the count: the pump completes the signal it replaces, so a wait that begins just
            // as the count reaches zero still ends.
            TaskCompletionSource caughtUp = Volatile.Read(ref _caughtUp);
            if (Volatile.Read(ref _queued) == 0 || Volatile.Read(ref _broken) != 0)
            {
                return;
            }

            await caughtUp.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>No more outcomes: the pump sends what is left (any still held early, in number order) and completes
    /// the buffer.</summary>
    public void Complete()
    {
        lock (_lock)
        {
            if (_completed)
            {
                return;
            }

            _completed = true;
            Debug.Assert(_early.Count == 0, $"Every batch number up to the last is settled once, so none waits for an earlier one at the end: {_early.Count} held, next {_next}.");
            foreach (long number in _early.Keys.Order().ToArray())
            {
                Enqueue(_early[number]);
            }

            _early.Clear();
            _ordered.Writer.TryComplete();
        }
    }

    // Under _lock, so outcomes enter the channel in number order.
    private void Enqueue(BatchOutcome<T> outcome)
    {
        Interlocked.Increment(ref _queued);
        _next = outcome.Number + 1;
        _ordered.Writer.TryWrite(outcome);
    }

    // Catches everything: an outcome that cannot be sent faults the source (its reader learns why), and the reporter is
    // never left waiting for a pump that stopped.
    private async Task PumpAsync()
    {
        ChannelReader<BatchOutcome<T>> reader = _ordered.Reader;
        bool accepting = true;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (reader.TryRead(out BatchOutcome<T>? outcome))
                {
                    // False only when the reader completed or faulted the source itself: it wants no more outcomes.
                    accepting = accepting && await _buffer.SendAsync(outcome).ConfigureAwait(false);
                    if (Interlocked.Decrement(ref _queued) == 0)
                    {
                        Interlocked.Exchange(ref _caughtUp, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
                    }
                }
            }

            _buffer.Complete();
        }
        catch (Exception ex)
        {
            Volatile.Write(ref _broken, 1);
            ((IDataflowBlock)_buffer).Fault(ex);
            Interlocked.Exchange(ref _caughtUp, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
    }
}
