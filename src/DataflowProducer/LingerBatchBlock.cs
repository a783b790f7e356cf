using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Threading.Tasks.Dataflow;

namespace DataflowProducer;

/// <summary>
/// A dataflow block that groups items into arrays by count or by age: a batch is emitted when it holds
/// <see cref="LingerBatchBlockOptions.BatchSize"/> items, when its oldest item is
/// <see cref="LingerBatchBlockOptions.Linger"/> old, on <see cref="TriggerBatch"/>, or on <see cref="Complete"/>.
/// </summary>
/// <typeparam name="T">The type of the items.</typeparam>
/// <remarks>
/// <para>
/// The linger clock starts when an item enters an empty batch; later items never move it (Kafka's
/// <c>linger.ms</c>, not a debounce). A timer armed for a batch that has since closed never cuts a later batch
/// short. Batches are never empty, never larger than the batch size, and keep the order items were accepted in.
/// </para>
/// <para>
/// <see cref="Complete"/> emits the open batch at once, and <see cref="IDataflowBlock.Completion"/> succeeds only
/// after every batch has been taken by a target (or received), so a block linked with
/// <see cref="DataflowLinkOptions.PropagateCompletion"/> sees the final partial batch before it is completed.
/// </para>
/// <para>
/// <see cref="IDataflowBlock.Fault"/> and cancellation drop what the block holds, hand those items back through
/// <see cref="DroppedItems"/>, and end <see cref="IDataflowBlock.Completion"/> faulted or canceled; both are honoured
/// after <see cref="Complete"/> too, until <see cref="IDataflowBlock.Completion"/> has finished, so a shutdown that
/// is stuck behind a declining target can still be aborted.
/// </para>
/// <para>
/// As a dataflow source and target it follows <see cref="BatchBlock{T}"/> (message headers, reservations, the first
/// offer made inside <see cref="LinkTo"/>, no offer once a link's <see cref="IDisposable.Dispose"/> has returned,
/// linked targets faulted with <see cref="IDataflowBlock.Completion"/>'s exception) except where the README's
/// "Differences from BatchBlock&lt;T&gt;" says otherwise.
/// </para>
/// </remarks>
[DebuggerDisplay("{DebuggerDisplay,nq}")]
public sealed class LingerBatchBlock<T> : IPropagatorBlock<T, T[]>, IReceivableSourceBlock<T[]>
{
    // Concurrency: one lock (_lock) guards every field below that changes. No call into another block (offers,
    // consumes, reservations, completion propagation) is made while holding it; such calls are decided under the
    // lock and made after it is released. Outgoing batches are offered with consumeToAccept = true, so the only
    // way a batch leaves the block is ConsumeMessage/TryReceive under the lock: two targets can never both get it.
    // Offering and taking postponed offers each run as one loop at a time, which keeps order: on the thread pool,
    // except the first offer round after LinkTo, which runs on the caller's thread as in Dataflow. A link's Dispose
    // may wait, outside the lock, for an offer to that link running on another thread; nothing else waits.
    private readonly Lock _lock = new();
    private readonly int _batchSize;
    private readonly long _lingerTicks;
    private readonly int _boundedCapacity;
    private readonly TimeProvider _timeProvider;
    private readonly ITimer? _timer;
    private readonly CancellationTokenRegistration _cancellationRegistration;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Target side.
    private T[]? _open;
    private int _openCount;
    private int _lastBatchCount;
    private long _openDeadline;
    private int _held;
    private long _acceptedCount;
    private readonly bool _holdUntilReleased;
    private readonly ITargetBlock<T> _consumer;
    private int _pendingConsumes;
    private readonly Queue<KeyValuePair<ISourceBlock<T>, DataflowMessageHeader>> _postponed = new();
    private bool _takingPostponed;
    private bool _declining;

    // Source side. The head batch of _output has the header _headId. Offers run one round at a time (_offering): a
    // round offers the head to the links in order and ends when a target takes or reserves it, or every link has
    // refused it (_offeredId = _headId: it is not offered again until something changes, as Dataflow disables
    // offering). Before each single offer the round checks, under the lock, that the head is still there and free
    // and that the link is still linked; _offeringTo names the link being offered to, so a Dispose() on another thread
    // waits for that one offer to return (the runtime's Dispose waits for its whole round, under its lock).
    private readonly Queue<T[]> _output = new();
    private long _headId = 1;
    private ITargetBlock<T[]>? _reservedBy;
    private readonly List<Link> _links = [];
    private Link[] _linkSnapshot = [];
    private bool _offering;
    private bool _offerAgain;
    private long _offeredId;
    private List<Link>? _linkedDuringRound;
    private Link? _offeringTo;
    private int _offeringThread;
    private TaskCompletionSource? _offerReturned;

    // Completion.
    private Exception? _fault;
    private bool _canceled;
    private bool _completed;
    private bool _aborted;
    private List<T> _dropped = [];

    /// <summary>Initializes a new block with the given batch size and linger time and default other options.</summary>
    /// <param name="batchSize">The largest number of items in one batch; at least 1.</param>
    /// <param name="linger">The maximum age of the oldest item of a batch; greater than zero, or
    /// <see cref="Timeout.InfiniteTimeSpan"/> for count-only batching.</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    public LingerBatchBlock(int batchSize, TimeSpan linger)
        : this(new LingerBatchBlockOptions { BatchSize = batchSize, Linger = linger })
    {
    }

    /// <summary>Initializes a new block.</summary>
    /// <param name="options">The options; copied, so later changes do not affect this block.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> or its time provider is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it and its value.</exception>
    /// <exception cref="ArgumentException">The settings contradict each other.</exception>
    public LingerBatchBlock(LingerBatchBlockOptions options)
        : this(options, holdUntilReleased: false, consumer: null)
    {
    }

    // holdUntilReleased: items stay counted against BoundedCapacity after their batch is taken, until Release is
    // called, so an owner can bound everything it holds downstream too. consumer: the target that sources see
    // in ConsumeMessage/ReserveMessage calls, when this block sits behind a public facade.
    internal LingerBatchBlock(LingerBatchBlockOptions options, bool holdUntilReleased, ITargetBlock<T>? consumer)
    {
        ArgumentNullException.ThrowIfNull(options);
        Internal.OptionsValidation.ThrowFirst(Internal.OptionsValidation.BatchingErrors(options.BatchSize, options.Linger, options.BoundedCapacity, nameof(LingerBatchBlockOptions)), nameof(options));
        if (options.TimeProvider is null)
        {
            throw new ArgumentNullException(nameof(options), "LingerBatchBlockOptions.TimeProvider must not be null.");
        }

        _batchSize = options.BatchSize;
        _holdUntilReleased = holdUntilReleased;
        _consumer = consumer ?? this;
        _boundedCapacity = options.BoundedCapacity;
        _timeProvider = options.TimeProvider;
        Linger = options.Linger;
        BatchSize = options.BatchSize;

        bool timed = options.Linger != Timeout.InfiniteTimeSpan && options.BatchSize > 1;
        if (timed)
        {
            _lingerTicks = (long)(options.Linger.Ticks * (_timeProvider.TimestampFrequency / (double)TimeSpan.TicksPerSecond));
            _lingerTicks = Math.Max(_lingerTicks, 1);
            _timer = _timeProvider.CreateTimer(static state => ((LingerBatchBlock<T>)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        if (options.CancellationToken.CanBeCanceled)
        {
            _cancellationRegistration = options.CancellationToken.UnsafeRegister(static state => ((LingerBatchBlock<T>)state!).Abort(null, canceled: true), this);
        }
    }

    /// <summary>Gets the largest number of items in one batch.</summary>
    public int BatchSize { get; }

    /// <summary>Gets the maximum age of the oldest item of a batch, or <see cref="Timeout.InfiniteTimeSpan"/>.</summary>
    public TimeSpan Linger { get; }

    /// <summary>Gets the number of emitted batches that no target has taken yet.</summary>
    public int OutputCount
    {
        get
        {
            lock (_lock)
            {
                return _output.Count;
            }
        }
    }

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

    /// <inheritdoc />
    public Task Completion => _completion.Task;

    private string DebuggerDisplay
    {
        get
        {
            lock (_lock)
            {
                return $"Open = {_openCount}/{_batchSize}, Batches waiting = {_output.Count}, Held = {_held}, Postponed = {_postponed.Count}, Declining = {_declining}, Completed = {_completed}";
            }
        }
    }

    /// <summary>Emits the open batch now, if it holds any item. Does nothing otherwise (no empty batches).</summary>
    public void TriggerBatch()
    {
        bool startOffer;
        lock (_lock)
        {
            startOffer = CloseOpenBatch();
        }

        if (startOffer)
        {
            StartOffering();
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

    DataflowMessageStatus ITargetBlock<T>.OfferMessage(DataflowMessageHeader messageHeader, T messageValue, ISourceBlock<T>? source, bool consumeToAccept)
    {
        ThrowIfInvalid(messageHeader);
        if (source is null && consumeToAccept)
        {
            throw new ArgumentException("consumeToAccept requires a source.", nameof(consumeToAccept));
        }

        bool startOffer;
        lock (_lock)
        {
            if (_declining)
            {
                return DataflowMessageStatus.DecliningPermanently;
            }

            if (!HasRoom() || _postponed.Count > 0 || _takingPostponed)
            {
                // Full, or earlier offers are still waiting: taking this one now would overtake them.
                if (source is null)
                {
                    return DataflowMessageStatus.Declined;
                }

                _postponed.Enqueue(new(source, messageHeader));
                return DataflowMessageStatus.Postponed;
            }

            if (consumeToAccept)
            {
                // Hold the room while the item is fetched outside the lock.
                _held++;
                _pendingConsumes++;
                startOffer = false;
            }
            else
            {
                startOffer = Add(messageValue);
            }
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
                startOffer = ok && AddAfterConsume(consumed!);
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

    // As Dataflow does: an invalid header is the caller's bug, reported before anything else (even a null target).
    private static void ThrowIfInvalid(DataflowMessageHeader messageHeader)
    {
        if (!messageHeader.IsValid)
        {
            throw new ArgumentException("The message header is not valid.", nameof(messageHeader));
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"{nameof(LingerBatchBlock<T>)}<{typeof(T).Name}>(BatchSize = {BatchSize}, Linger = {Linger})";

    // Adds an accepted item to the open batch; returns true when a batch was emitted.
    private bool Add(T item)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        if (_openCount == 0)
        {
            _open ??= new T[Math.Min(_batchSize, Math.Max(_lastBatchCount, 16))];
            if (_timer is not null)
            {
                _openDeadline = _timeProvider.GetTimestamp() + _lingerTicks;
                _timer.Change(Linger, Timeout.InfiniteTimeSpan);
            }
        }
        else if (_openCount == _open!.Length)
        {
            Array.Resize(ref _open, Math.Min(_batchSize, _open.Length * 2));
        }

        _open![_openCount++] = item;
        _held++;
        _acceptedCount++;
        return _openCount == _batchSize && CloseOpenBatch();
    }

    // An item fetched with ConsumeMessage was accepted before Complete(); if the block has since started declining,
    // it still belongs in a batch, and that batch must go out now because nobody will trigger it later.
    private bool AddAfterConsume(T item)
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

        bool emitted = Add(item);
        return _declining ? CloseOpenBatch() | emitted : emitted;
    }

    // Returns true when a batch was emitted.
    private bool CloseOpenBatch()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        if (_openCount == 0 || _completed)
        {
            return false;
        }

        T[] batch = _open!;
        if (_openCount != batch.Length)
        {
            Array.Resize(ref batch, _openCount);
        }

        _lastBatchCount = _openCount;
        _open = null;
        _openCount = 0;
        _output.Enqueue(batch);
        Debug.Assert(_held <= (_boundedCapacity < 0 ? int.MaxValue : _boundedCapacity) || _pendingConsumes > 0 || _declining, "Bounded capacity exceeded.");
        return true;
    }

    private void OnTimer()
    {
        bool startOffer = false;
        lock (_lock)
        {
            if (_openCount == 0 || _completed)
            {
                return;
            }

            long remaining = _openDeadline - _timeProvider.GetTimestamp();
            if (remaining > 0)
            {
                // A timer armed for an earlier batch fired after a new batch opened (or the clock fired early):
                // the open batch keeps its own deadline.
                _timer!.Change(TimeSpan.FromSeconds(remaining / (double)_timeProvider.TimestampFrequency), Timeout.InfiniteTimeSpan);
            }
            else
            {
                startOffer = CloseOpenBatch();
            }
        }

        if (startOffer)
        {
            StartOffering();
        }
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

    private List<KeyValuePair<ISourceBlock<T>, DataflowMessageHeader>>? TakePostponed()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread, "Caller holds the lock.");
        if (_postponed.Count == 0)
        {
            return null;
        }

        var list = new List<KeyValuePair<ISourceBlock<T>, DataflowMessageHeader>>(_postponed);
        _postponed.Clear();
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
        lock (_lock)
        {
            if (_takingPostponed || _postponed.Count == 0 || _declining || !HasRoom())
            {
                return;
            }

            _takingPostponed = true;
        }

        Task.Factory.StartNew(static state => ((LingerBatchBlock<T>)state!).TakePostponedLoop(), this, CancellationToken.None, TaskCreationOptions.DenyChildAttach, TaskScheduler.Default);
    }

    /// <summary>Gets the number of items accepted so far.</summary>
    internal long AcceptedCount
    {
        get
        {
            lock (_lock)
            {
                return _acceptedCount;
            }
        }
    }

    // In hold mode: the owner reports that items taken earlier no longer occupy capacity.
    internal void Release(int count)
    {
        Debug.Assert(_holdUntilReleased, "Release is only meaningful in hold mode.");
        lock (_lock)
        {
            _held = Math.Max(0, _held - count);
        }

        StartTakingPostponed();
    }

    private bool HasRoom() => _boundedCapacity < 0 || _held < _boundedCapacity;

    private void TakePostponedLoop()
    {
        while (true)
        {
            KeyValuePair<ISourceBlock<T>, DataflowMessageHeader> next;
            bool done;
            lock (_lock)
            {
                if (_declining || _postponed.Count == 0 || !HasRoom())
                {
                    _takingPostponed = false;
                    done = TryMarkCompleted();
                    goto Exit;
                }

                next = _postponed.Dequeue();
                _held++;
                _pendingConsumes++;
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
                if (consumed)
                {
                    startOffer = AddAfterConsume(item!);
                }
            }

            if (startOffer)
            {
                StartOffering();
            }

            continue;

        Exit:
            if (done)
            {
                Finish();
            }

            return;
        }
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
        _dropped = dropped;
    }

    // Runs once, after _completed was set under the lock.
    private void Finish()
    {
        Link[] links;
        lock (_lock)
        {
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

    private sealed class Link(LingerBatchBlock<T> owner, ITargetBlock<T[]> target, bool propagateCompletion, int maxMessages) : IDisposable
    {
        public ITargetBlock<T[]> Target { get; } = target;

        public bool PropagateCompletion { get; } = propagateCompletion;

        // Guarded by the owner's lock: whether the link is in the owner's list.
        public bool Linked { get; set; }

        // Guarded by the owner's lock: how many more messages the link may carry; DataflowBlockOptions.Unbounded for no limit.
        public int Remaining { get; set; } = maxMessages;

        public void Dispose() => owner.Unlink(this);
    }
}
