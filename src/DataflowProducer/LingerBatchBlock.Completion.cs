using System.Diagnostics;
using System.Threading.Tasks.Dataflow;

namespace DataflowProducer;

// Completion (DESIGN §4.3, and §4.19 fault propagation): Complete, Fault and cancellation, the abort that drops what
// is held and hands it back through DroppedItems, the one check that decides the block is done (TryMarkCompleted),
// Finish, and propagating Completion to linked targets.
public sealed partial class LingerBatchBlock<T>
{
    /// <inheritdoc />
    public Task Completion => _completion.Task;

    /// <summary>Gets the items the block dropped because it was faulted or canceled, in acceptance order.</summary>
    /// <value>Empty unless <see cref="IDataflowBlock.Fault"/> or cancellation ended the block while it held items.
    /// Set before <see cref="IDataflowBlock.Completion"/> finishes.</value>
    public IReadOnlyList<T> DroppedItems
    {
        get
        {
            lock (_lock)
            {
                return _dropped.ToArray();
            }
        }
    }

    /// <summary>
    /// Stops accepting items and emits the open batch at once. <see cref="IDataflowBlock.Completion"/> succeeds when
    /// every batch has been taken. Calling it again does nothing.
    /// </summary>
    public void Complete()
    {
        List<KeyValuePair<ISourceBlock<T>, DataflowMessageHeader>>? postponed;
        bool startOffer;
        bool done;
        lock (_lock)
        {
            if (_declining)
            {
                return;
            }

            _declining = true;
            startOffer = CloseOpenBatch();
            postponed = TakePostponed();
            done = TryMarkCompleted();
        }

        ReleasePostponed(postponed);
        if (startOffer)
        {
            StartOffering();
        }

        if (done)
        {
            Finish();
        }
    }

    void IDataflowBlock.Fault(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        Abort(exception, canceled: false);
    }

    // Fault and cancellation: drop what is held, hand it back, and finish as soon as no item is being fetched from a
    // source (such an item is dropped too when it arrives, so DroppedItems is whole when Completion finishes).
    private void Abort(Exception? exception, bool canceled)
    {
        List<KeyValuePair<ISourceBlock<T>, DataflowMessageHeader>>? postponed = null;
        bool done;
        lock (_lock)
        {
            if (_completed)
            {
                return;
            }

            if (!_aborted)
            {
                AbortUnderLock(exception, canceled);
                postponed = TakePostponed();
            }

            done = TryMarkCompleted();
        }

        ReleasePostponed(postponed);
        if (done)
        {
            Finish();
        }
    }

    private void AbortUnderLock(Exception? exception, bool canceled)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        _aborted = true;
        _declining = true;
        _fault = exception;
        _canceled = exception is null && canceled;

        var dropped = new List<T>(_held);
        foreach (T[] batch in _output)
        {
            dropped.AddRange(batch);
        }

        for (int i = 0; i < _openCount; i++)
        {
            dropped.Add(_open![i]);
        }

        _output.Clear();
        _open = null;
        _openCount = 0;
        _held = _pendingConsumes;
        if (_bytes)
        {
            ResetBytesOnAbort();
        }

        _dropped = dropped;
    }

    private bool TryMarkCompleted()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        if (_completed || !_declining || _openCount > 0 || _output.Count > 0 || _pendingConsumes > 0 || _takingPostponed)
        {
            return false;
        }

        _completed = true;
        return true;
    }

    // Runs once, after _completed was set under the lock.
    private void Finish()
    {
        Link[] links;
        lock (_lock)
        {
            Debug.Assert(_completed, "Finish runs only after TryMarkCompleted returned true.");
            links = [.. _links];
            foreach (Link link in links)
            {
                link.Linked = false;
            }

            _links.Clear();
            _linkSnapshot = [];
        }

        _timer?.Dispose();
        _cancellationRegistration.Dispose();

        if (_fault is not null)
        {
            _completion.TrySetException(_fault);
        }
        else if (_canceled)
        {
            _completion.TrySetCanceled();
        }
        else
        {
            _completion.TrySetResult();
        }

        // Finish can run inside a target's ConsumeMessage (the last batch was just taken); completing that target
        // synchronously would reach it before it has stored the batch. Dataflow propagates asynchronously for the
        // same reason.
        Link[] propagating = Array.FindAll(links, static link => link.PropagateCompletion);
        if (propagating.Length > 0)
        {
            Task.Factory.StartNew(
                static state =>
                {
                    var (self, targets) = ((LingerBatchBlock<T>, Link[]))state!;
                    foreach (Link link in targets)
                    {
                        self.Propagate(link.Target);
                    }
                },
                (this, propagating),
                CancellationToken.None,
                TaskCreationOptions.DenyChildAttach,
                TaskScheduler.Default);
        }
    }

    // As Dataflow links do: a faulted source passes its Completion.Exception (an AggregateException), not the
    // exception it was faulted with.
    private void Propagate(ITargetBlock<T[]> target)
    {
        Task completion = _completion.Task;
        Debug.Assert(completion.IsCompleted, "Completion is propagated once it has finished.");
        if (completion.IsFaulted)
        {
            target.Fault(completion.Exception!);
        }
        else
        {
            target.Complete();
        }
    }

    // LinkTo after completion: the block may be completed (_completed) but Finish not yet have set Completion.
    private void PropagateWhenCompleted(ITargetBlock<T[]> target)
    {
        if (_completion.Task.IsCompleted)
        {
            Propagate(target);
            return;
        }

        _completion.Task.ContinueWith(
            static (_, state) =>
            {
                var (self, target) = ((LingerBatchBlock<T>, ITargetBlock<T[]>))state!;
                self.Propagate(target);
            },
            (this, target),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }
}
