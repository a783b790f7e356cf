using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Threading.Channels;
using System.Threading.Tasks.Dataflow;
using DataflowProducer.Diagnostics;
using DataflowProducer.Internal;
using Microsoft.Extensions.Logging;

namespace DataflowProducer;

/// <summary>
/// A target block that batches items by count or age and hands the batches to an <see cref="IBatchSink{T}"/>,
/// accounting for every item it accepts: each is delivered, reported failed, or abandoned and handed back.
/// </summary>
/// <typeparam name="T">The type of the items.</typeparam>
/// <remarks>
/// <para>
/// Inside, a <see cref="LingerBatchBlock{T}"/> is linked with <see cref="DataflowLinkOptions.PropagateCompletion"/>
/// to an <see cref="ActionBlock{TInput}"/> that hands each batch to the sink. After <see cref="Complete"/>, the batch
/// block emits its last partial batch before it completes, and the action block completes only after handing it
/// over; only then are the outstanding acknowledgements awaited and the sink flushed. So the final batch cannot be
/// skipped: completion flows through it.
/// </para>
/// <para>
/// <see cref="IDataflowBlock.Completion"/> succeeds only when every accepted item was delivered and the sink was
/// flushed. When an item failed or was abandoned it ends faulted with a <see cref="BatchProducerException{T}"/>
/// whose message gives the counts and which carries the failed and abandoned items; when it was canceled and nothing
/// was lost, it ends canceled. Cancellation, <see cref="IDataflowBlock.Fault"/>, a sink that
/// throws, or a drain that outlasts <see cref="BatchProducerOptions.DrainTimeout"/> abort the pipeline: everything
/// not delivered is abandoned, handed to <see cref="BatchProducerCallbacks{T}.ItemsAbandoned"/>, and
/// posters waiting for room are released (their <c>SendAsync</c> returns false).
/// </para>
/// </remarks>
[DebuggerDisplay("{DebuggerDisplay,nq}")]
public sealed partial class BatchProducerBlock<T> : ITargetBlock<T>, IAsyncDisposable
{
    // Concurrency. There is no lock of this class's own. Items enter through the batch block, which bounds them
    // under its one lock (in hold mode, so capacity is returned only when an item's outcome is known). The action
    // block hands batches to the sink one at a time (MaxDegreeOfParallelism 1, BoundedCapacity 1: at most one batch
    // in it); the _window semaphore limits acknowledgements pending at once; one reporter loop reads pending batches
    // in order, so outcomes and callbacks are reported in order. Every count and hand-back goes through _ledger
    // (Interlocked counters, its own lock for the lists). A batch without an outcome is always findable by whoever
    // finishes the pipeline: in _accepting while the produce stage holds it, then in _pending. It is settled once:
    // the first to claim it (PendingBatch.TryClaim, an Interlocked exchange) counts it, and others wait on its
    // Settled task. _state decides, by compare-exchange, whether the abort or the clean finish came first.
    private readonly IBatchSink<T> _sink;
    private readonly BatchProducerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly LingerBatchBlock<T> _batcher;
    private readonly ActionBlock<T[]> _producer;
    private readonly IDisposable _link;
    private readonly SemaphoreSlim _window;
    private readonly Channel<PendingBatch> _pending = Channel.CreateUnbounded<PendingBatch>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly CancellationTokenSource _abort = new();
    private readonly CancellationTokenSource _flushCancellation = new(); // the sink's flush: canceled when the settle time ends
    private readonly CancellationTokenRegistration _userCancellation;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object? _ownedResource;
    private readonly ProducerMetrics _metrics;
    private readonly Ledger<T> _ledger;
    private readonly KeyValuePair<string, object?>[] _telemetryTags;
    private readonly TagList _tags;
    private readonly IBatchSinkHooks<T>? _hooks;
    private readonly Action<T>? _onOffer;
    private readonly OutcomeEmitter<T>? _emitter;   // with EmitOutcomes only
    private readonly AdaptiveBatching? _adaptive;   // with Adaptive only; used by the outcome reporter alone
    private readonly Func<T, long>? _itemSize;      // with BoundedBytes or MaxBatchBytes only
    private readonly IDisposable _observation;      // the observable instruments report this pipeline until it ends

    // Signals: set once each. _aborted: Abort has stopped the stages. _sinkCallAfterAbort: a sink call began after
    // the abort (see EnterSink).
    private readonly TaskCompletionSource _aborted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _sinkCallAfterAbort = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Interlocked or Volatile, each written by the one path named.
    private long _batchSequence;            // the produce stage
    private int _completeRequested;         // Complete(): 0, then 1
    private int _state;                     // 0 running, Aborted or FinishedCleanly: whichever comes first wins
    private Exception? _abortReason;        // Abort, right after it wins _state (readers fall back to a generic reason)
    private PendingBatch? _accepting;       // the produce stage; taken by FinishAsync after an abort
    private CancellationTokenSource? _drainTimeout; // Complete()
    private Task? _flush;                   // StartFlush: the sink is flushed once per pipeline
    private int _drainTimedOut;             // the drain timer, when it wins the abort
    private long _drainStarted;             // Complete(): the drain's start, for what is left of the timeout
    private long _settleUntil;              // Abort: when the settle time ends (a timestamp), one deadline for every wait

    /// <summary>Initializes a new pipeline over a sink.</summary>
    /// <param name="sink">Where batches go. The block does not dispose it.</param>
    /// <param name="options">The options; copied. Null for the defaults.</param>
    /// <param name="callbacks">Where failed and abandoned items are handed back; null to rely on the completion exception.</param>
    /// <param name="logger">The logger; null for none.</param>
    /// <exception cref="ArgumentNullException"><paramref name="sink"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it and its value.</exception>
    /// <remarks>A sink that also implements <see cref="IBatchSinkHooks{T}"/> supplies telemetry tags, an observer of
    /// offered items, and whether the block disposes it when it has finished.</remarks>
    public BatchProducerBlock(IBatchSink<T> sink, BatchProducerOptions? options = null, BatchProducerCallbacks<T>? callbacks = null, ILogger<BatchProducerBlock<T>>? logger = null)
        : this(sink, options, callbacks, (ILogger?)logger)
    {
    }

    /// <summary>Initializes a new pipeline over a sink, with a logger of any category.</summary>
    /// <param name="sink">Where batches go. The block does not dispose it, unless it says so through
    /// <see cref="IBatchSinkHooks{T}.DisposeWhenFinished"/>.</param>
    /// <param name="options">The options; copied. Null for the defaults.</param>
    /// <param name="callbacks">Where failed and abandoned items are handed back; null to rely on the completion exception.</param>
    /// <param name="logger">The logger; null for none.</param>
    /// <exception cref="ArgumentNullException"><paramref name="sink"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it and its value.</exception>
    public BatchProducerBlock(IBatchSink<T> sink, BatchProducerOptions? options, BatchProducerCallbacks<T>? callbacks, ILogger? logger)
    {
        ArgumentNullException.ThrowIfNull(sink);
        options = (options ?? new BatchProducerOptions()).Clone();
        options.ThrowIfInvalid();
        IBatchSinkHooks<T>? hooks = sink as IBatchSinkHooks<T>;
        _itemSize = ItemSizeOf(options, hooks);

        _sink = sink;
        _options = options;
        _logger = GuardedLogger.Wrap(logger);
        _timeProvider = options.TimeProvider;
        _ownedResource = hooks is { DisposeWhenFinished: true } ? sink : null;
        _window = new SemaphoreSlim(options.MaxInFlightBatches, options.MaxInFlightBatches);
        _onOffer = hooks is null ? null : hooks.OnOffered;
        _metrics = ProducerMetrics.For(options.MeterFactory);
        _telemetryTags = TelemetryTagsFor(options, hooks?.TelemetryTags);
        _tags = new TagList(_telemetryTags);
        _hooks = hooks;

        _batcher = new LingerBatchBlock<T>(
            new LingerBatchBlockOptions
            {
                BatchSize = options.BatchSize,
                Linger = options.Linger,
                BoundedCapacity = options.BoundedCapacity,
                TimeProvider = options.TimeProvider,
            },
            holdUntilReleased: true,
            consumer: this,
            options.BoundedBytes,
            options.MaxBatchBytes,
            maxBatchSize: options.Adaptive?.MaxBatchSize ?? 0);
        _adaptive = AdaptiveBatchingFor(options);
        if (_adaptive is not null)
        {
            RecordLimits(_adaptive);
        }

        _ledger = new Ledger<T>(() => _batcher.AcceptedCount, callbacks, _logger, _metrics, _tags) { ErrorTypeOf = ErrorTypeOf };
        _emitter = options.EmitOutcomes ? new OutcomeEmitter<T>(options.OutcomeBoundedCapacity) : null;
        _producer = new ActionBlock<T[]>(AcceptBatchAsync, new ExecutionDataflowBlockOptions { BoundedCapacity = 1, MaxDegreeOfParallelism = 1 });
        _link = _batcher.LinkTo(_producer, new DataflowLinkOptions { PropagateCompletion = true });

        if (options.CancellationToken.CanBeCanceled)
        {
            _userCancellation = options.CancellationToken.UnsafeRegister(
                static state => ((BatchProducerBlock<T>)state!).Abort(new OperationCanceledException("The pipeline's cancellation token was canceled."), "canceled"),
                this);
        }

        _observation = _metrics.Observe(new HeldObservation(this));
        AttachSignals(hooks);
        _ = RunAsync();
    }

    /// <inheritdoc />
    public Task Completion => _completion.Task;

    /// <summary>Gets the source of outcomes: one <see cref="BatchOutcome{T}"/> per batch, batches in acceptance order,
    /// an outcome for every accepted item (delivered, failed, not sent, or unknown). Items abandoned before they were
    /// batched come last, as one more outcome.</summary>
    /// <value>A bounded source (<see cref="BatchProducerOptions.OutcomeBoundedCapacity"/> batches): when its reader falls
    /// behind, the pipeline stops reporting outcomes, the sink gets no new batches and posters wait. It completes after
    /// the last outcome, once the pipeline has finished, however it finished: the outcomes themselves carry the
    /// failures, and <see cref="Completion"/> the summary. Link it with
    /// <see cref="DataflowLinkOptions.PropagateCompletion"/> so the reader completes after the last outcome.</value>
    /// <exception cref="InvalidOperationException">Outcomes are off: set <see cref="BatchProducerOptions.EmitOutcomes"/>.</exception>
    public ISourceBlock<BatchOutcome<T>> Outcomes => _emitter?.Source
        ?? throw new InvalidOperationException("This pipeline does not emit outcomes: set BatchProducerOptions.EmitOutcomes to true when building it.");

    private string DebuggerDisplay
    {
        get
        {
            BatchProducerStatistics s = GetStatistics();
            return $"Accepted = {s.Accepted}, Delivered = {s.Delivered}, Failed = {s.Failed}, Abandoned = {s.Abandoned}, InFlight = {s.InFlight}";
        }
    }

    /// <summary>Returns a snapshot of the counts.</summary>
    /// <returns>The counts now. See <see cref="BatchProducerStatistics"/> for the invariants they keep.</returns>
    public BatchProducerStatistics GetStatistics() => _itemSize is null ? _ledger.Snapshot() : _ledger.Snapshot() with { BytesHeld = _batcher.HeldBytes };

    /// <summary>Stops accepting items and drains: the open batch is sent at once, every outcome awaited, the sink
    /// flushed, all within <see cref="BatchProducerOptions.DrainTimeout"/>. Calling it again does nothing.</summary>
    public void Complete()
    {
        if (Interlocked.Exchange(ref _completeRequested, 1) != 0)
        {
            return;
        }

        BatchProducerStatistics s = GetStatistics();
        Log.DrainStarted(_logger, s.Accepted, s.Delivered, s.InFlight, _options.DrainTimeout);
        Volatile.Write(ref _drainStarted, _timeProvider.GetTimestamp());
        if (_options.DrainTimeout != Timeout.InfiniteTimeSpan && Volatile.Read(ref _state) == 0)
        {
            var timeout = new CancellationTokenSource(_options.DrainTimeout, _timeProvider);
            timeout.Token.UnsafeRegister(
                static state => ((BatchProducerBlock<T>)state!).AbortOnDrainTimeout(new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"The drain did not finish within the drain timeout ({((BatchProducerBlock<T>)state!)._options.DrainTimeout}).")), "drain timeout"),
                this);
            Volatile.Write(ref _drainTimeout, timeout);
        }

        _batcher.Complete();
    }

    /// <summary>Completes the block and waits for the drain (bounded by <see cref="BatchProducerOptions.DrainTimeout"/>).
    /// Does not throw for undelivered items: they are handed back through the callbacks and
    /// <see cref="IDataflowBlock.Completion"/> holds the exception with the counts.</summary>
    /// <returns>A task that completes when the pipeline has finished.</returns>
    public async ValueTask DisposeAsync()
    {
        Complete();
        try
        {
            await Completion.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is BatchProducerException or OperationCanceledException)
        {
            // Reported through the callbacks, the log, and Completion.
        }
    }

    void IDataflowBlock.Fault(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        Abort(exception, "faulted by the caller");
    }

    DataflowMessageStatus ITargetBlock<T>.OfferMessage(DataflowMessageHeader messageHeader, T messageValue, ISourceBlock<T>? source, bool consumeToAccept)
    {
        // The protocol first, as the runtime's blocks answer it: a bad header is the caller's bug, and a block that
        // completes declines for good, before any user code (the offer hook, ItemSize) runs for the item.
        if (!messageHeader.IsValid)
        {
            throw new ArgumentException("The DataflowMessageHeader instance does not represent a valid message header.", nameof(messageHeader));
        }

        if (Volatile.Read(ref _completeRequested) != 0 || IsAborted)
        {
            return DataflowMessageStatus.DecliningPermanently;
        }

        if (_onOffer is not null && !consumeToAccept)
        {
            try
            {
                _onOffer(messageValue);
            }
            catch (Exception)
            {
                // Capturing context is best effort: the item goes on without it.
            }
        }

        long size = 0;
        if (_itemSize is not null && !TryMeasure(_itemSize, messageValue, out size) && source is null)
        {
            // Post (and SendAsync's first try) learn it at once. An offer that comes with a source (a linked block, or
            // SendAsync's second try) takes the item counted as 0 bytes instead: a declined message stays at the head
            // of a linked source, which would then offer nothing else, ever.
            return DataflowMessageStatus.Declined;
        }

        DataflowMessageStatus status = _batcher.OfferMessage(messageHeader, messageValue, source, consumeToAccept, size, out string? shortOfRoom);
        if (shortOfRoom is not null)
        {
            CountWait(shortOfRoom);
        }

        return status;
    }

    /// <inheritdoc />
    public override string ToString() => $"{nameof(BatchProducerBlock<T>)}<{typeof(T).Name}>";
}
