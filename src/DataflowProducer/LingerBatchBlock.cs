using System.Diagnostics;
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
public sealed partial class LingerBatchBlock<T> : IPropagatorBlock<T, T[]>, IReceivableSourceBlock<T[]>
{
    // Concurrency design and lock rules (read before changing any part of this class):
    // * One lock, _lock, guards every field of this class that changes after construction, and the mutable state of
    //   each Link. There is no second lock, so there is no lock order to get wrong. A method that expects the lock to
    //   be held asserts it (Debug.Assert(_lock.IsHeldByCurrentThread)).
    // * No call into another block (offers, consumes, reservations, completion propagation) is made while holding it;
    //   such calls are decided under the lock and made after it is released.
    // * Outgoing batches are offered with consumeToAccept = true, so the only way a batch leaves the block is
    //   ConsumeMessage/TryReceive under the lock: two targets can never both get it.
    // * Offering and taking postponed offers each run as one loop at a time, which keeps order: on the thread pool,
    //   except the first offer round after LinkTo, which runs on the caller's thread as in Dataflow.
    // * A link's Dispose may wait, outside the lock, for an offer to that link running on another thread; nothing
    //   else waits.
    // The class is split by job, all parts under this one lock: LingerBatchBlock.Target.cs (accepting, postponing and
    // taking postponed items), .Batching.cs (open batch, linger timer, TriggerBatch, hold mode), .Source.cs (links,
    // offer loop, consume/reserve/receive), .Completion.cs (Complete, Fault, cancellation, abort, Finish, propagation),
    // .Link.cs (the link handle), .Limits.cs (batch size and linger changed at run time by the owner).
    private readonly Lock _lock = new();

    // Set by the constructor and never changed: read without the lock.
    private readonly int _boundedCapacity;
    private readonly TimeProvider _timeProvider;
    private readonly bool _holdUntilReleased;
    private readonly ITargetBlock<T> _consumer;

    // Thread-safe by themselves. The timer is re-armed under _lock and disposed by Finish outside it; the
    // registration is disposed by Finish; _completion is set only by Finish, which runs once.
    private readonly ITimer? _timer;
    private readonly CancellationTokenRegistration _cancellationRegistration;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // The batch size and linger in effect: the configured ones unless the owner changes them (SetLimits, in
    // LingerBatchBlock.Limits.cs). Guarded by _lock.
    private int _batchSize;
    private TimeSpan _linger;
    private long _lingerTicks;

    // Target side. Guarded by _lock. _held counts the items that occupy BoundedCapacity: the open batch, the batches
    // waiting in _output, items being fetched from a source (_pendingConsumes), and in hold mode batches taken but
    // not yet released.
    private T[]? _open;
    private int _openCount;
    private int _lastBatchCount;
    private long _openDeadline;
    private int _held;
    private long _acceptedCount;
    private int _pendingConsumes;
    private readonly Queue<KeyValuePair<ISourceBlock<T>, DataflowMessageHeader>> _postponed = new();
    private bool _takingPostponed;
    private bool _declining;

    // Source side. Guarded by _lock. The head batch of _output has the header _headId. Offers run one round at a time
    // (_offering): a round offers the head to the links in order and ends when a target takes or reserves it, or every
    // link has refused it (_offeredId = _headId: it is not offered again until something changes, as Dataflow disables
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

    // Completion. Guarded by _lock. _fault and _canceled are written at most once, by the abort, before _completed is
    // set; Finish reads them after that, outside the lock.
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
    // boundedBytes, maxBatchBytes: BatchProducerOptions' bytes bounds (-1 off), in hold mode only; the owner passes
    // each item's size with its offer. maxBatchSize: the largest batch size SetLimits may set, so the linger timer
    // exists when batches may grow beyond one item.
    internal LingerBatchBlock(LingerBatchBlockOptions options, bool holdUntilReleased, ITargetBlock<T>? consumer, long boundedBytes = -1, long maxBatchBytes = -1, int maxBatchSize = 0)
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
        _boundedBytes = boundedBytes;
        _maxBatchBytes = maxBatchBytes;
        _bytes = boundedBytes >= 0 || maxBatchBytes >= 0;
        Debug.Assert(!_bytes || holdUntilReleased, "Bytes are released by the owner: hold mode only.");
        _timeProvider = options.TimeProvider;
        Linger = options.Linger;
        BatchSize = options.BatchSize;
        _linger = options.Linger;

        bool timed = options.Linger != Timeout.InfiniteTimeSpan && Math.Max(options.BatchSize, maxBatchSize) > 1;
        if (timed)
        {
            _lingerTicks = LingerTicks(options.Linger);
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

    private string DebuggerDisplay
    {
        get
        {
            lock (_lock)
            {
                return $"Open = {_openCount}/{_batchSize}, Batches waiting = {_output.Count}, Held = {_held}, Held bytes = {_heldBytes}, Postponed = {_postponed.Count}, Declining = {_declining}, Completed = {_completed}";
            }
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"{nameof(LingerBatchBlock<T>)}<{typeof(T).Name}>(BatchSize = {BatchSize}, Linger = {Linger})";

    // As Dataflow does: an invalid header is the caller's bug, reported before anything else (even a null target).
    private static void ThrowIfInvalid(DataflowMessageHeader messageHeader)
    {
        if (!messageHeader.IsValid)
        {
            throw new ArgumentException("The message header is not valid.", nameof(messageHeader));
        }
    }
}
