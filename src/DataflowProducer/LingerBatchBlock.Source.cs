using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Threading.Tasks.Dataflow;

namespace DataflowProducer;

// The source side (DESIGN §4.19): links, the offer loop (the first round synchronously inside LinkTo, none to a
// link once its Dispose has returned), and how a batch leaves the block: ConsumeMessage/ReserveMessage/
// ReleaseReservation from targets, TryReceive/TryReceiveAll from receivers. Fault propagation to linked targets is in
// LingerBatchBlock.Completion.cs.
public sealed partial class LingerBatchBlock<T>
{
    /// <inheritdoc />
    public IDisposable LinkTo(ITargetBlock<T[]> target, DataflowLinkOptions linkOptions)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(linkOptions);

        var link = new Link(this, target, linkOptions.PropagateCompletion, linkOptions.MaxMessages);
        bool completed;
        bool offerNow = false;
        Link[]? offerOnlyTo = null;
        lock (_lock)
        {
            completed = _completed;
            if (!completed)
            {
                if (linkOptions.Append)
                {
                    _links.Add(link);
                }
                else
                {
                    _links.Insert(0, link);
                }

                link.Linked = true;
                _linkSnapshot = [.. _links];
                if (_offering)
                {
                    // The running round did not see this link; it offers the head to it once it is done.
                    (_linkedDuringRound ??= []).Add(link);
                }
                else if (_output.Count > 0 && _reservedBy is null)
                {
                    // As Dataflow does: a head that every other link has refused already is offered to the new link
                    // only; a head not offered yet goes to all links in order.
                    _offering = true;
                    offerNow = true;
                    offerOnlyTo = _offeredId == _headId ? [link] : null;
                }
            }
        }

        if (completed)
        {
            if (linkOptions.PropagateCompletion)
            {
                PropagateWhenCompleted(target);
            }

            return link;
        }

        if (offerNow)
        {
            OfferInline(offerOnlyTo);
        }

        return link;
    }

    /// <inheritdoc />
    public bool TryReceive(Predicate<T[]>? filter, [MaybeNullWhen(false)] out T[] item)
    {
        bool done;
        lock (_lock)
        {
            if (_output.Count == 0 || _reservedBy is not null || (filter is not null && !filter(_output.Peek())))
            {
                item = null;
                return false;
            }

            item = Dequeue();
            done = TryMarkCompleted();
        }

        AfterDequeue(done);
        return true;
    }

    /// <inheritdoc />
    public bool TryReceiveAll([NotNullWhen(true)] out IList<T[]>? items)
    {
        bool done;
        lock (_lock)
        {
            if (_output.Count == 0 || _reservedBy is not null)
            {
                items = null;
                return false;
            }

            var all = new List<T[]>(_output.Count);
            while (_output.Count > 0)
            {
                all.Add(Dequeue());
            }

            items = all;
            done = TryMarkCompleted();
        }

        AfterDequeue(done);
        return true;
    }

    T[]? ISourceBlock<T[]>.ConsumeMessage(DataflowMessageHeader messageHeader, ITargetBlock<T[]> target, out bool messageConsumed)
    {
        ThrowIfInvalid(messageHeader);
        ArgumentNullException.ThrowIfNull(target);
        T[] batch;
        bool done;
        bool postponedWaiting;
        bool offering;
        lock (_lock)
        {
            if (_output.Count == 0 || messageHeader.Id != _headId || (_reservedBy is not null && _reservedBy != target))
            {
                messageConsumed = false;
                return null;
            }

            _reservedBy = null;
            batch = Dequeue();
            done = TryMarkCompleted();

            // Count the message against the link's MaxMessages here, not when an offer is accepted: a target that
            // postponed the offer and consumes it later has taken a message too. Unlinked before the next batch is
            // offered, under the same lock as the dequeue.
            if (FindLimitedLink(target) is { } limited && --limited.Remaining == 0)
            {
                RemoveLink(limited);
            }

            // What AfterDequeue would find out by taking the lock twice more, decided here instead: this runs once per
            // batch, usually inside our own offer loop, while the posting thread takes the same lock for every item.
            // Nothing postponed now means nothing to take later (a later offer finds the room this batch freed, or
            // Release starts the taking). A running offer loop sees the new head by itself.
            postponedWaiting = _postponed.Count > 0;
            offering = _offering;
        }

        messageConsumed = true;
        if (done)
        {
            Finish();
        }
        else
        {
            if (postponedWaiting)
            {
                StartTakingPostponed();
            }

            if (!offering)
            {
                StartOffering();
            }
        }

        return batch;
    }

    bool ISourceBlock<T[]>.ReserveMessage(DataflowMessageHeader messageHeader, ITargetBlock<T[]> target)
    {
        ThrowIfInvalid(messageHeader);
        ArgumentNullException.ThrowIfNull(target);
        lock (_lock)
        {
            if (_reservedBy is not null || _output.Count == 0 || messageHeader.Id != _headId)
            {
                return false;
            }

            _reservedBy = target;
            return true;
        }
    }

    void ISourceBlock<T[]>.ReleaseReservation(DataflowMessageHeader messageHeader, ITargetBlock<T[]> target)
    {
        ThrowIfInvalid(messageHeader);
        ArgumentNullException.ThrowIfNull(target);
        lock (_lock)
        {
            if (_reservedBy != target || messageHeader.Id != _headId)
            {
                throw new InvalidOperationException("The message is not reserved by this target.");
            }

            _reservedBy = null;
        }

        StartOffering(reoffer: true);
    }

    private T[] Dequeue()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        T[] batch = _output.Dequeue();
        _headId++;
        if (!_holdUntilReleased)
        {
            _held -= batch.Length;
        }

        return batch;
    }

    private void AfterDequeue(bool done)
    {
        if (done)
        {
            Finish();
            return;
        }

        StartTakingPostponed();
        StartOffering();
    }

    // Starts an offer loop on the thread pool, unless one is running (it sees a new head by itself) or there is nothing
    // to offer. reoffer: a reservation was released, so targets that refused the head may take it now.
    private void StartOffering(bool reoffer = false)
    {
        lock (_lock)
        {
            if (reoffer)
            {
                _offeredId = 0;
            }

            if (_offering)
            {
                // The running round may have offered the head already: make it offer the head again.
                _offerAgain |= reoffer;
                return;
            }

            if (_output.Count == 0 || _reservedBy is not null || _linkSnapshot.Length == 0 || _completed || _offeredId == _headId)
            {
                return;
            }

            _offering = true;
        }

        Task.Factory.StartNew(static state => ((LingerBatchBlock<T>)state!).OfferLoop(), this, CancellationToken.None, TaskCreationOptions.DenyChildAttach, TaskScheduler.Default);
    }

    // LinkTo offers on the caller's thread, as Dataflow does, so the new target (OutputAvailableAsync's among them) has
    // been offered the head before LinkTo returns. What follows a batch taken there runs on the thread pool. A target
    // that throws from that offer throws out of LinkTo, as with Dataflow, and does not fault the block.
    private void OfferInline(Link[]? only)
    {
        bool more;
        try
        {
            more = OfferRound(only);
        }
        catch
        {
            lock (_lock)
            {
                _offering = false;
                _linkedDuringRound = null;
            }

            throw;
        }

        if (more)
        {
            Task.Factory.StartNew(static state => ((LingerBatchBlock<T>)state!).OfferLoop(), this, CancellationToken.None, TaskCreationOptions.DenyChildAttach, TaskScheduler.Default);
        }
    }

    private void OfferLoop()
    {
        try
        {
            while (OfferRound(only: null))
            {
            }
        }
        catch (Exception ex)
        {
            OfferFailed(ex);
        }
    }

    // A target that throws from OfferMessage ends the block, as Dataflow's offer loop does.
    private void OfferFailed(Exception exception)
    {
        lock (_lock)
        {
            _offering = false;
            _linkedDuringRound = null;
        }

        Abort(exception, canceled: false);
    }

    // One round: offers the head to the links in order (or only to the given ones) until one takes or reserves it.
    // Returns false, with _offering cleared, when there is nothing more to offer until something changes.
    private bool OfferRound(Link[]? only)
    {
        long id;
        T[] batch;
        Link[] links;
        lock (_lock)
        {
            Debug.Assert(_offering, "Only the offering thread runs a round.");
            bool again = _offerAgain;
            _offerAgain = false;
            if (_output.Count == 0 || _reservedBy is not null || _linkSnapshot.Length == 0 || _completed)
            {
                _offering = false;
                _linkedDuringRound = null;
                return false;
            }

            if (only is not null)
            {
                links = only;
            }
            else if (again || _offeredId != _headId)
            {
                links = _linkSnapshot;
                _linkedDuringRound = null;
            }
            else if (_linkedDuringRound is not null)
            {
                links = [.. _linkedDuringRound];
                _linkedDuringRound = null;
            }
            else
            {
                // Every link has refused the head: wait for a consume, a release, a new link or a new head.
                _offering = false;
                return false;
            }

            id = _headId;
            batch = _output.Peek();
        }

        var header = new DataflowMessageHeader(id);
        foreach (Link link in links)
        {
            lock (_lock)
            {
                if (_headId != id || _reservedBy is not null || _completed)
                {
                    // Taken (by a consume or a receive) or reserved, here or elsewhere: this round is over.
                    break;
                }

                if (!link.Linked)
                {
                    continue;
                }

                _offeringTo = link;
                _offeringThread = Environment.CurrentManagedThreadId;
            }

            DataflowMessageStatus status;
            try
            {
                status = link.Target.OfferMessage(header, batch, this, consumeToAccept: true);
            }
            finally
            {
                EndOffer();
            }

            if (status == DataflowMessageStatus.Accepted)
            {
                // The target took the batch through ConsumeMessage, which counted it against the link.
                break;
            }

            if (status == DataflowMessageStatus.DecliningPermanently)
            {
                Unlink(link);
            }
        }

        lock (_lock)
        {
            if (_headId == id && _reservedBy is null)
            {
                _offeredId = id;
            }
        }

        return true;
    }

    private void EndOffer()
    {
        TaskCompletionSource? disposing;
        lock (_lock)
        {
            _offeringTo = null;
            disposing = _offerReturned;
            _offerReturned = null;
        }

        disposing?.TrySetResult();
    }

    private Link? FindLimitedLink(ITargetBlock<T[]> target)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        foreach (Link link in _links)
        {
            if (link.Remaining > 0 && link.Target == target)
            {
                return link;
            }
        }

        return null;
    }

    // Link.Dispose. Returns only when no offer to this link is running on another thread, so the target is never offered
    // anything once Dispose() has returned (an offer on this thread is the caller's own: it returns after this).
    private void Unlink(Link link)
    {
        Task? offerReturned = null;
        lock (_lock)
        {
            RemoveLink(link);
            if (_offeringTo == link && _offeringThread != Environment.CurrentManagedThreadId)
            {
                _offerReturned ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                offerReturned = _offerReturned.Task;
            }
        }

        // Outside the lock: the offer being waited for may call back into this block.
        offerReturned?.Wait();
    }

    private void RemoveLink(Link link)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        if (link.Linked)
        {
            link.Linked = false;
            _links.Remove(link);
            _linkSnapshot = [.. _links];
        }
    }
}
