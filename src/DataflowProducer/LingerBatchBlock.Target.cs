using System.Diagnostics;
using System.Threading.Tasks.Dataflow;

namespace DataflowProducer;

// The target side: accepting offered items (DESIGN §4.6 backpressure as BoundedCapacity, §4.19 message headers),
// postponing offers while full and taking them later in the order they were made, and giving postponed offers back
// when the block stops accepting.
public sealed partial class LingerBatchBlock<T>
{
    DataflowMessageStatus ITargetBlock<T>.OfferMessage(DataflowMessageHeader messageHeader, T messageValue, ISourceBlock<T>? source, bool consumeToAccept)
        => OfferMessage(messageHeader, messageValue, source, consumeToAccept, size: 0, out _);

    // size: the item's bytes, computed by the owner before the offer (0 when bytes are not bounded). shortOfRoom: when
    // an offer without a source (Post, or SendAsync's first try) is declined for lack of room, which bound was full
    // (Diagnostics.TelemetryNames.CapacityReason or BytesReason), for the owner's backpressure counter; else null.
    internal DataflowMessageStatus OfferMessage(DataflowMessageHeader messageHeader, T messageValue, ISourceBlock<T>? source, bool consumeToAccept, long size, out string? shortOfRoom)
    {
        shortOfRoom = null;
        ThrowIfInvalid(messageHeader);
        if (source is null && consumeToAccept)
        {
            throw new ArgumentException("consumeToAccept requires a source.", nameof(consumeToAccept));
        }

        bool startOffer;
        DataflowMessageStatus? notTaken = null;
        lock (_lock)
        {
            if (_declining)
            {
                return DataflowMessageStatus.DecliningPermanently;
            }

            if (!HasRoom(size) || _postponed.Count > 0 || _takingPostponed)
            {
                // Full, or earlier offers are still waiting: taking this one now would overtake them.
                startOffer = CloseForByteRoom(size);
                if (source is null)
                {
                    shortOfRoom = _bytes && (_boundedCapacity < 0 || _held < _boundedCapacity) ? Diagnostics.TelemetryNames.BytesReason : Diagnostics.TelemetryNames.CapacityReason;
                    notTaken = DataflowMessageStatus.Declined;
                }
                else
                {
                    _postponed.Enqueue(new(source, messageHeader));
                    if (_bytes)
                    {
                        _postponedSizes.Enqueue(size);
                    }

                    notTaken = DataflowMessageStatus.Postponed;
                }
            }
            else if (consumeToAccept)
            {
                // Hold the room while the item is fetched outside the lock.
                _held++;
                _pendingConsumes++;
                HoldBytesForConsume(size);
                startOffer = false;
            }
            else
            {
                startOffer = Add(messageValue, size);
            }
        }

        if (notTaken is { } status)
        {
            if (startOffer)
            {
                StartOffering();
            }

            return status;
        }

        if (consumeToAccept)
        {
            T? consumed;
            bool ok;
            bool done;
            try
            {
                consumed = source!.ConsumeMessage(messageHeader, _consumer, out ok);
            }
            catch
            {
                // Give the room back (and let an abort that is waiting for this consume finish), then let the
                // source see its own exception.
                lock (_lock)
                {
                    _held--;
                    _pendingConsumes--;
                    ReturnBytesForConsume(size);
                    done = TryMarkCompleted();
                }

                if (done)
                {
                    Finish();
                }

                throw;
            }

            lock (_lock)
            {
                _held--;
                _pendingConsumes--;
                ReturnBytesForConsume(size);
                startOffer = ok && AddAfterConsume(consumed!, size);
                done = TryMarkCompleted();
            }

            if (done)
            {
                Finish();
            }

            if (!ok)
            {
                return DataflowMessageStatus.NotAvailable;
            }
        }

        if (startOffer)
        {
            StartOffering();
        }

        return DataflowMessageStatus.Accepted;
    }

    // An item fetched with ConsumeMessage was accepted before Complete(); if the block has since started declining,
    // it still belongs in a batch, and that batch must go out now because nobody will trigger it later.
    private bool AddAfterConsume(T item, long size)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        if (_aborted)
        {
            // Faulted or canceled while the item was being fetched: the source already gave it up, so it was accepted
            // and is dropped like the rest, before Completion finishes (the abort waits for pending consumes).
            _acceptedCount++;
            _dropped.Add(item);
            return false;
        }

        bool emitted = Add(item, size);
        return _declining ? CloseOpenBatch() | emitted : emitted;
    }

    private bool HasRoom(long size)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        return (_boundedCapacity < 0 || _held < _boundedCapacity) && (!_bytes || HasByteRoom(size));
    }

    private List<KeyValuePair<ISourceBlock<T>, DataflowMessageHeader>>? TakePostponed()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        if (_postponed.Count == 0)
        {
            return null;
        }

        var list = new List<KeyValuePair<ISourceBlock<T>, DataflowMessageHeader>>(_postponed);
        _postponed.Clear();
        _postponedSizes.Clear();
        return list;
    }

    // Tells each postponed source that its message will not be taken: reserving and releasing is how a target
    // gives a postponed message back (SendAsync then completes with false).
    private void ReleasePostponed(List<KeyValuePair<ISourceBlock<T>, DataflowMessageHeader>>? postponed)
    {
        if (postponed is null)
        {
            return;
        }

        foreach (var (source, header) in postponed)
        {
            try
            {
                if (source.ReserveMessage(header, _consumer))
                {
                    source.ReleaseReservation(header, _consumer);
                }
            }
            catch (Exception)
            {
                // The source is gone, already gave the message to another target, or is broken: nothing to release.
                // Whatever it threw, this block still completes (a source is user code, DESIGN 4.14).
            }
        }
    }

    private void StartTakingPostponed()
    {
        bool startOffer;
        lock (_lock)
        {
            if (_takingPostponed || _postponed.Count == 0 || _declining || !HasRoom(NextPostponedSize()))
            {
                startOffer = !_takingPostponed && _postponed.Count > 0 && !_declining && CloseForByteRoom(NextPostponedSize());
                goto NotTaking;
            }

            _takingPostponed = true;
        }

        Task.Factory.StartNew(static state => ((LingerBatchBlock<T>)state!).TakePostponedLoop(), this, CancellationToken.None, TaskCreationOptions.DenyChildAttach, TaskScheduler.Default);
        return;

    NotTaking:
        if (startOffer)
        {
            StartOffering();
        }
    }

    private void TakePostponedLoop()
    {
        while (true)
        {
            KeyValuePair<ISourceBlock<T>, DataflowMessageHeader> next;
            long size;
            bool done;
            bool closed;
            lock (_lock)
            {
                if (_declining || _postponed.Count == 0 || !HasRoom(NextPostponedSize()))
                {
                    _takingPostponed = false;
                    closed = !_declining && _postponed.Count > 0 && CloseForByteRoom(NextPostponedSize());
                    done = TryMarkCompleted();
                    goto Exit;
                }

                next = _postponed.Dequeue();
                size = _bytes ? _postponedSizes.Dequeue() : 0;
                _held++;
                _pendingConsumes++;
                HoldBytesForConsume(size);
            }

            T? item;
            bool consumed;
            try
            {
                item = next.Key.ConsumeMessage(next.Value, _consumer, out consumed);
            }
            catch (Exception ex)
            {
                lock (_lock)
                {
                    _held--;
                    _pendingConsumes--;
                    ReturnBytesForConsume(size);
                    _takingPostponed = false;
                }

                Abort(ex, canceled: false);
                return;
            }

            bool startOffer = false;
            lock (_lock)
            {
                _held--;
                _pendingConsumes--;
                ReturnBytesForConsume(size);
                if (consumed)
                {
                    startOffer = AddAfterConsume(item!, size);
                }
            }

            if (startOffer)
            {
                StartOffering();
            }

            continue;

        Exit:
            if (closed)
            {
                StartOffering();
            }

            if (done)
            {
                Finish();
            }

            return;
        }
    }
}
