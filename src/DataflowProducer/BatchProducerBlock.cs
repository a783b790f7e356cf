using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Threading.Channels;
using System.Threading.Tasks.Dataflow;
using DataflowProducer.Diagnostics;
using DataflowProducer.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

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
/// flushed. Otherwise it ends faulted with a <see cref="BatchProducerException{T}"/> whose message gives the counts
/// and which carries the failed and abandoned items. Cancellation, <see cref="IDataflowBlock.Fault"/>, a sink that
/// throws, or a drain that outlasts <see cref="BatchProducerOptions.DrainTimeout"/> abort the pipeline: everything
/// not delivered is abandoned, handed to <see cref="BatchProducerCallbacks{T}.ItemsAbandoned"/>, and
/// posters waiting for room are released (their <c>SendAsync</c> returns false).
/// </para>
/// </remarks>
[DebuggerDisplay("{DebuggerDisplay,nq}")]
public sealed class BatchProducerBlock<T> : ITargetBlock<T>, IAsyncDisposable
{
    // Concurrency: items enter through the batch block, which bounds them with its own lock (in hold mode, so
    // capacity is returned only when an item's outcome is known). The action block hands batches to the sink one at
    // a time (MaxDegreeOfParallelism 1, BoundedCapacity 1, so at most one batch sits in it); a semaphore limits
    // acknowledgements pending at once; a single reporter loop reads pending batches in order, so outcomes and
    // callbacks are reported in order. Counters are Interlocked. Whoever takes a batch out of an unknown state
    // (reporter or abort) does so with an Interlocked exchange, so no item is counted twice.
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
    private readonly CancellationTokenRegistration _userCancellation;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object? _ownedResource;
    private readonly ProducerMetrics _metrics;
    private readonly Ledger<T> _ledger;
    private readonly KeyValuePair<string, object?>[] _telemetryTags;
    private readonly TagList _tags;
    private readonly string _spanName;
    private readonly Action<T>? _onOffer;

    private long _batchSequence;
    private int _completeRequested;
    // 0 running, Aborted, or FinishedCleanly: whichever of Abort and the clean finish comes first wins.
    private int _state;
    private readonly TaskCompletionSource _aborted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Exception? _abortReason;
    private PendingBatch? _accepting;
    private CancellationTokenSource? _drainTimeout;
    private Task? _flush;
    private int _drainTimedOut;
    private readonly TaskCompletionSource _sinkCallAfterAbort = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _drainStarted;

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
        _spanName = hooks?.DestinationName is { } destination ? "send " + destination : "send";

        _batcher = new LingerBatchBlock<T>(
            new LingerBatchBlockOptions
            {
                BatchSize = options.BatchSize,
                Linger = options.Linger,
                BoundedCapacity = options.BoundedCapacity,
                TimeProvider = options.TimeProvider,
            },
            holdUntilReleased: true,
            consumer: this);
        _ledger = new Ledger<T>(() => _batcher.AcceptedCount, callbacks, _logger, _metrics, _tags);
        _producer = new ActionBlock<T[]>(AcceptBatchAsync, new ExecutionDataflowBlockOptions { BoundedCapacity = 1, MaxDegreeOfParallelism = 1 });
        _link = _batcher.LinkTo(_producer, new DataflowLinkOptions { PropagateCompletion = true });

        if (options.CancellationToken.CanBeCanceled)
        {
            _userCancellation = options.CancellationToken.UnsafeRegister(
                static state => ((BatchProducerBlock<T>)state!).Abort(new OperationCanceledException("The pipeline's cancellation token was canceled."), "canceled"),
                this);
        }

        _ = RunAsync();
    }

    /// <inheritdoc />
    public Task Completion => _completion.Task;

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
    public BatchProducerStatistics GetStatistics() => _ledger.Snapshot();

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

        return ((ITargetBlock<T>)_batcher).OfferMessage(messageHeader, messageValue, source, consumeToAccept);
    }

    /// <inheritdoc />
    public override string ToString() => $"{nameof(BatchProducerBlock<T>)}<{typeof(T).Name}>";

    // The action block's delegate: hand one batch to the sink. Never throws; a failure aborts the pipeline.
    private async Task AcceptBatchAsync(T[] batch)
    {
        var pending = new PendingBatch(batch, Interlocked.Increment(ref _batchSequence));

        // Visible in _accepting from the first moment until it is settled or in the channel, so that whoever
        // finishes the pipeline always finds an unsettled batch in one of the two.
        Volatile.Write(ref _accepting, pending);
        _ledger.CountAccepted(batch.Length);
        bool windowTaken = false;
        try
        {
            _abort.Token.ThrowIfCancellationRequested();
            await _window.WaitAsync(_abort.Token).ConfigureAwait(false);
            windowTaken = true;

            // SemaphoreSlim can still grant a waiter whose cancellation is under way (Report aborts under FaultPipeline
            // and then releases the window), so look again: after an abort no batch may reach the sink.
            _abort.Token.ThrowIfCancellationRequested();
            if (!pending.TryMarkInFlight())
            {
                // Settled (abandoned) by FinishAsync while it waited: it must not reach the sink.
                _window.Release();
                Interlocked.CompareExchange(ref _accepting, null, pending);
                return;
            }

            // In the sink's hands from here: a listener that blocks in StartSpan or a measurement is then treated like a
            // sink call that never returns.
            EnterSink(pending);
            _ledger.HandedOver(batch.Length);
            StartSpan(pending);
            Task<BatchResult>? acknowledgement;
            try
            {
                acknowledgement = await _sink.AcceptAsync(batch, _abort.Token).ConfigureAwait(false);
            }
            finally
            {
                pending.InSink = false;
            }

            pending.Acknowledgement = acknowledgement
                ?? throw new InvalidOperationException("The sink's AcceptAsync returned a null acknowledgement task; a sink (or a substitute of one) must return a task that completes with the batch's BatchResult.");
            ProducerMetrics.Record(_metrics.BatchSize, batch.Length, Tags());
            Log.BatchAccepted(_logger, pending.Number, batch.Length);
            pending.WindowTaken = true;

            // Into the channel first, then out of _accepting. The write fails only when the pipeline is finishing
            // (the channel is closed): the batch then stays in _accepting, where FinishAsync settles it.
            if (_pending.Writer.TryWrite(pending))
            {
                Interlocked.CompareExchange(ref _accepting, null, pending);
            }
        }
        catch (Exception ex)
        {
            if (windowTaken && !pending.WindowTaken)
            {
                _window.Release();
            }

            bool abortedByUs = ex is OperationCanceledException && _abort.IsCancellationRequested;
            if (!abortedByUs)
            {
                Log.SinkFailed(_logger, ex, pending.Number);
            }

            // Settled before it leaves _accepting: FinishAsync either finds it there (and waits for this settle) or
            // finds it settled.
            SettleAbandoned(pending, abortedByUs ? AbortReason : ex);
            Interlocked.CompareExchange(ref _accepting, null, pending);
            if (!abortedByUs)
            {
                Abort(ex, "the sink threw while accepting a batch");
            }
        }
    }

    // Marks the batch as inside the sink's AcceptAsync before the call. The write and the abort's cancellation are
    // both full fences, so either RunAsync sees InSink (and does not wait for the call) or this sees the abort (and
    // wakes RunAsync's wait): a sink call that ignores cancellation can never hold Completion.
    private void EnterSink(PendingBatch pending)
    {
        pending.InSink = true;
        if (_abort.IsCancellationRequested)
        {
            _sinkCallAfterAbort.TrySetResult();
        }
    }

    private const int Aborted = 1;
    private const int FinishedCleanly = 2;

    // After an abort, how long the pipeline waits for what is still in the sink's hands to settle: a sink call that
    // ignores cancellation, the sink's last flush. Bounded, so a stuck sink cannot hold Completion (DESIGN 4.14).
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(5);

    private bool IsAborted => Volatile.Read(ref _state) == Aborted;

    private Exception AbortReason => Volatile.Read(ref _abortReason) ?? new OperationCanceledException("The pipeline was aborted.");

    // Runs for the block's whole life: reports outcomes in order, then finishes the block. It catches everything:
    // whatever happens, Completion ends.
    private async Task RunAsync()
    {
        try
        {
            Task reporter = ReportOutcomesAsync();
            await Task.WhenAny(_producer.Completion, _aborted.Task).ConfigureAwait(false);
            if (!_producer.Completion.IsCompleted && Volatile.Read(ref _accepting) is not { InSink: true })
            {
                // Aborted while the produce stage holds a batch outside the sink: it sees the abort at once and hands
                // the batch back, so wait for it. A batch inside a sink call is not waited for (the sink may ignore
                // cancellation): FinishAsync settles it. A call that begins after the abort wakes this wait too.
                await Task.WhenAny(_producer.Completion, _sinkCallAfterAbort.Task).ConfigureAwait(false);
            }

            if (_producer.Completion.IsFaulted)
            {
                // The delegate never throws, so this is an internal error: abort (Abort keeps the first reason only).
                Abort(_producer.Completion.Exception.InnerException ?? _producer.Completion.Exception, "the produce stage faulted");
            }

            _pending.Writer.TryComplete();
            await reporter.ConfigureAwait(false);

            if (!IsAborted)
            {
                await FlushAsync().ConfigureAwait(false);
            }

            await FinishAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // An internal error: never leave Completion pending. What is not settled is lost to the counts, so say so.
            Abort(ex, "internal error");
            _completion.TrySetException(new BatchProducerException<T>($"The pipeline failed internally; the counts may be incomplete. {ex.Message}", ex, [], []) { Statistics = GetStatistics() });
        }
    }

    // A task nobody waits for any more: its failure must not surface as an unobserved exception.
    private static void Observe(Task task) =>
        task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    // True when the task finished within the bound (measured on the pipeline's clock); never throws.
    private async Task<bool> FinishesWithinAsync(Task task, TimeSpan bound)
    {
        if (!task.IsCompleted)
        {
            using var stop = new CancellationTokenSource();
            Task delay = Task.Delay(bound, _timeProvider, stop.Token);
            await Task.WhenAny(task, delay).ConfigureAwait(false);
            await stop.CancelAsync().ConfigureAwait(false);
        }

        if (task.IsFaulted)
        {
            // Observed here; the caller decides what the failure means.
            _ = task.Exception;
        }

        return task.IsCompleted;
    }

    private async Task FlushAsync()
    {
        try
        {
            // WaitAsync: a sink whose flush blocks its thread or ignores the token must not keep the pipeline from
            // finishing after the drain timeout aborts it.
            await StartFlush(RemainingDrainTime(), _abort.Token).WaitAsync(_abort.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && _abort.IsCancellationRequested))
        {
            Log.FlushFailed(_logger, ex);
            Abort(ex, "the sink's flush failed");
        }
        catch (OperationCanceledException)
        {
            // Aborted during the flush: FinishAsync abandons what is left.
        }
    }

    // The sink's flush runs on the thread pool, and only once per pipeline: an aborting pipeline waits for the flush
    // already running rather than starting a second one.
    private Task StartFlush(TimeSpan timeout, CancellationToken cancellationToken)
    {
        Task flush = Task.Run(() => _sink.FlushAsync(timeout, cancellationToken) ?? throw new InvalidOperationException("The sink's FlushAsync returned null instead of a task."), CancellationToken.None);
        Volatile.Write(ref _flush, flush);
        return flush;
    }

    private TimeSpan RemainingDrainTime()
    {
        if (_options.DrainTimeout == Timeout.InfiniteTimeSpan)
        {
            return Timeout.InfiniteTimeSpan;
        }

        // What is left of the drain timeout; the drain timer still aborts the pipeline when it fires.
        long started = Volatile.Read(ref _drainStarted);
        TimeSpan elapsed = started == 0 ? TimeSpan.Zero : _timeProvider.GetElapsedTime(started);
        return elapsed >= _options.DrainTimeout ? TimeSpan.Zero : _options.DrainTimeout - elapsed;
    }

    private async Task ReportOutcomesAsync()
    {
        ChannelReader<PendingBatch> reader = _pending.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_abort.Token).ConfigureAwait(false))
            {
                while (reader.TryPeek(out PendingBatch? pending))
                {
                    BatchResult result;
                    try
                    {
                        result = await pending.Acknowledgement!.WaitAsync(_abort.Token).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (!(ex is OperationCanceledException && _abort.IsCancellationRequested))
                    {
                        // The acknowledgement itself faulted: every item of the batch failed with that error.
                        result = FailAll(pending.Batch.Length, ex);
                    }

                    reader.TryRead(out _);
                    Report(pending, result);
                }
            }
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
            // Aborted: whatever is still pending is settled by FinishAsync.
        }
        catch (Exception ex)
        {
            // An internal error; the batches still pending are settled by FinishAsync.
            Abort(ex, "the outcome reporter failed");
        }
    }

    private static BatchResult FailAll(int count, Exception error)
    {
        var failures = new BatchItemError[count];
        for (int i = 0; i < count; i++)
        {
            failures[i] = new BatchItemError(i, error);
        }

        return BatchResult.Create(failures);
    }

    // The outcome of an acknowledged batch; a claimed batch is left alone.
    private void Report(PendingBatch pending, BatchResult? result)
    {
        if (!pending.TryClaim(out bool wasInFlight))
        {
            return;
        }

        T[] batch = pending.Batch;

        // Off InFlight before the outcome counters go up, so no snapshot (GetStatistics, or one taken in a callback)
        // counts an item both as in flight and as delivered, failed or abandoned.
        if (wasInFlight)
        {
            _ledger.Settling(batch.Length);
        }

        result ??= FailAll(batch.Length, new InvalidOperationException("The sink's acknowledgement completed with a null BatchResult; a sink (or a substitute of one) must complete it with the batch's result, BatchResult.AllDelivered when every item was delivered."));
        int failed = 0;
        int abandoned = 0;
        Exception? batchError = null;
        try
        {
            if (result.Failed.Count == 0 && result.Abandoned.Count == 0)
            {
                _ledger.Delivered(batch.Length);
                return;
            }

            foreach (BatchItemError failure in result.Failed)
            {
                if ((uint)failure.Index >= (uint)batch.Length)
                {
                    Log.ResultIndexOutOfRange(_logger, pending.Number, failure.Index, batch.Length);
                    continue;
                }

                failed++;
                batchError ??= failure.Error;
                _ledger.Failed(batch[failure.Index], failure.Error, pending.Number, failure.Index);
            }

            List<T>? lost = null;
            foreach (int index in result.Abandoned)
            {
                if ((uint)index < (uint)batch.Length)
                {
                    (lost ??= []).Add(batch[index]);
                }
                else
                {
                    Log.ResultIndexOutOfRange(_logger, pending.Number, index, batch.Length);
                }
            }

            if (lost is not null)
            {
                abandoned = lost.Count;
                _ledger.Abandoned(lost, IsAborted ? AbortReason : new TimeoutException("The sink could not learn these items' outcome before its flush ended."));
            }

            // Items neither failed nor abandoned were delivered. Out-of-range indexes are logged and ignored, so a
            // faulty sink cannot make the counts disagree.
            _ledger.Delivered(batch.Length - failed - abandoned);
        }
        finally
        {
            Log.BatchAcknowledged(_logger, pending.Number, batch.Length - failed - abandoned, failed, abandoned);
            if (wasInFlight)
            {
                ProducerMetrics.Record(_metrics.AcknowledgeDuration, _timeProvider.GetElapsedTime(pending.StartTimestamp).TotalSeconds, Tags());
                EndSpan(pending, failed == 0 && abandoned == 0 ? "delivered" : failed + abandoned == batch.Length ? (failed > 0 ? "failed" : "abandoned") : "partial", batchError);
            }

            // Stop before the window and the capacity are released: otherwise the next batch, already waiting for
            // the window, would reach the sink after the failure that should have stopped the pipeline.
            if (failed > 0 && _options.FailurePolicy == FailurePolicy.FaultPipeline)
            {
                Abort(new BatchProducerException($"{failed} item(s) of batch {pending.Number} failed and the failure policy is FaultPipeline.", _ledger.FirstFailure), "an item failed under FailurePolicy.FaultPipeline");
            }

            pending.MarkSettled();
            _batcher.Release(batch.Length);
            _window.Release();
        }
    }

    // The one way a batch without an outcome is settled, by whoever claims it first: off InFlight, its span ended,
    // its items abandoned and handed back. False when somebody else claimed it.
    private bool SettleAbandoned(PendingBatch pending, Exception reason)
    {
        if (!pending.TryClaim(out bool wasInFlight))
        {
            return false;
        }

        try
        {
            if (wasInFlight)
            {
                _ledger.Settling(pending.Batch.Length);
                EndSpan(pending, "abandoned", reason);
            }

            _ledger.Abandoned(pending.Batch, reason);
        }
        finally
        {
            pending.MarkSettled();
        }

        return true;
    }

    // Never throws: it runs from timer and cancellation callbacks, from Fault() and Complete(), and from user
    // callbacks that fault the block from inside.
    private void Abort(Exception reason, string why)
    {
        if (Interlocked.CompareExchange(ref _state, Aborted, 0) != 0)
        {
            return;
        }

        Volatile.Write(ref _abortReason, reason);
        Log.PipelineAborted(_logger, reason, why);
        // The token is canceled at once (EnterSink's fence depends on it), but its callbacks — a sink's registrations,
        // continuations of our own waits — run on the thread pool: user code that blocks or throws there cannot keep
        // the stages below from stopping.
        Observe(_abort.CancelAsync());

        // The batch block drops what it holds and releases posters waiting for room. It is unlinked first so the
        // fault does not reach the action block, which would drop the batch it holds instead of handing it back.
        // Signalled last, so RunAsync finds the stages already stopped.
        _link.Dispose();
        ((IDataflowBlock)_batcher).Fault(reason);
        _producer.Complete();
        _aborted.TrySetResult();
    }

    private void AbortOnDrainTimeout(Exception reason, string why)
    {
        if (Volatile.Read(ref _state) == 0)
        {
            Volatile.Write(ref _drainTimedOut, 1);
        }

        Abort(reason, why);
    }

    private async Task FinishAsync()
    {
        bool aborted = Interlocked.CompareExchange(ref _state, FinishedCleanly, 0) == Aborted;
        if (aborted)
        {
            Exception reason = AbortReason;

            // Give the sink a last chance to settle what it knows, item by item, before whole batches are abandoned:
            // a flush with no time left, bounded by the settle time. The sink is flushed once per pipeline: when the
            // drain's own flush already ran (or is still running past the drain timeout), it has had its chance.
            if (Volatile.Read(ref _flush) is { } drainFlush)
            {
                // Aborted during the drain's flush. After a drain timeout the flush has had its time; after any other
                // abort it gets the settle time to report what it knows.
                if (Volatile.Read(ref _drainTimedOut) == 0)
                {
                    await FinishesWithinAsync(drainFlush, SettleTimeout).ConfigureAwait(false);
                }

                Observe(drainFlush);
            }
            else
            {
                Task flush = StartFlush(TimeSpan.Zero, CancellationToken.None);
                if (!await FinishesWithinAsync(flush, SettleTimeout).ConfigureAwait(false))
                {
                    Log.FlushFailed(_logger, new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"The sink's flush did not finish within the settle time ({SettleTimeout}) after the abort.")));
                    Observe(flush);
                }
                else if (flush.IsFaulted)
                {
                    Log.FlushFailed(_logger, flush.Exception.InnerException ?? flush.Exception);
                }
            }

            // What the batch block held: never batched to the sink.
            try
            {
                await _batcher.Completion.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Faulted by Abort: expected.
            }

            IReadOnlyList<T> dropped = _batcher.DroppedItems;
            if (dropped.Count > 0)
            {
                // Never batched, so never counted as accepted by the metrics yet.
                _ledger.CountAccepted(dropped.Count);
                _ledger.Abandoned(dropped, reason);
            }

            // The batch the produce stage still holds: inside a sink call that ignored cancellation past the settle
            // time, or taken by the sink just as the channel closed. If its outcome is known, it counts.
            if (Interlocked.Exchange(ref _accepting, null) is { } accepting)
            {
                await SettleAtFinishAsync(accepting, reason).ConfigureAwait(false);
            }

            // Batches accepted by the sink whose acknowledgement did not come in time.
            while (_pending.Reader.TryRead(out PendingBatch? pending))
            {
                await SettleAtFinishAsync(pending, reason).ConfigureAwait(false);
            }
        }

        BatchProducerStatistics s = GetStatistics();
        Log.DrainCompleted(_logger, s.Accepted, s.Delivered, s.Failed, s.Abandoned, s.Batches);

        if (_ownedResource is { } owned)
        {
            // On the pool and bounded by the settle time: a client whose dispose blocks or never ends must not hold
            // Completion; the counts are final already.
            Task disposal = Task.Run(() => DisposeOwnedAsync(owned), CancellationToken.None);
            if (!await FinishesWithinAsync(disposal, SettleTimeout).ConfigureAwait(false))
            {
                Log.DisposeFailed(_logger, new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"Disposing what the pipeline owns did not finish within the settle time ({SettleTimeout}).")));
                Observe(disposal);
            }
            else if (disposal.IsFaulted)
            {
                Log.DisposeFailed(_logger, disposal.Exception.InnerException ?? disposal.Exception);
            }
        }

        _userCancellation.Dispose();
        Volatile.Read(ref _drainTimeout)?.Dispose();

        if (s.Failed == 0 && s.Abandoned == 0 && !aborted)
        {
            _completion.TrySetResult();
            return;
        }

        if (s.Failed == 0 && s.Abandoned == 0 && AbortReason is OperationCanceledException)
        {
            _completion.TrySetCanceled();
            return;
        }

        string message = s.Failed == 0 && s.Abandoned == 0
            ? string.Create(CultureInfo.InvariantCulture, $"Every accepted item was delivered ({s.Accepted} accepted, {s.Delivered} delivered, {s.Batches} batches), but the pipeline did not finish cleanly.")
            : string.Create(CultureInfo.InvariantCulture, $"Not every item was delivered: {s.Accepted} accepted, {s.Delivered} delivered, {s.Failed} failed, {s.Abandoned} abandoned ({s.Batches} batches).");
        if (aborted)
        {
            message += " " + AbortReason.Message;
        }

        Exception? inner = aborted ? AbortReason : _ledger.FirstFailure;
        _completion.TrySetException(_ledger.ToException(message, inner, s));
    }

    // At the end of an aborted pipeline: a batch whose acknowledgement has come is reported as the sink said; one
    // without is abandoned; one somebody else is settling right now is waited for, so that every hand-back happens
    // before Completion.
    private async Task SettleAtFinishAsync(PendingBatch pending, Exception reason)
    {
        switch (pending.Acknowledgement)
        {
            case { IsCompletedSuccessfully: true } acknowledged:
                Report(pending, acknowledged.Result);
                break;
            case { IsFaulted: true } faulted:
                Report(pending, FailAll(pending.Batch.Length, faulted.Exception.InnerException ?? faulted.Exception));
                break;
            default:
                SettleAbandoned(pending, reason);
                if (pending.Acknowledgement is { } late)
                {
                    // It may still complete, or fault, after the pipeline has finished.
                    Observe(late);
                }

                break;
        }

        await pending.Settled.ConfigureAwait(false);
    }

    private static async Task DisposeOwnedAsync(object owned)
    {
        if (owned is IAsyncDisposable asyncDisposable)
        {
            await asyncDisposable.DisposeAsync().ConfigureAwait(false);
        }
        else if (owned is IDisposable disposable)
        {
            disposable.Dispose();
        }
    }

    private static KeyValuePair<string, object?>[] TelemetryTagsFor(BatchProducerOptions options, IReadOnlyList<KeyValuePair<string, object?>>? sinkTags)
    {
        var tags = new List<KeyValuePair<string, object?>>();
        if (options.Name is { } name)
        {
            tags.Add(new(TelemetryNames.PipelineNameTag, name));
        }

        if (sinkTags is not null)
        {
            tags.AddRange(sinkTags);
        }

        return [.. tags];
    }

    // The same tags on every measurement, built once; a copy of the struct is cheap.
    private TagList Tags() => _tags;

    // One span per batch, from the hand-over to the sink until its outcome is known. The sink runs with it as the
    // current activity, so a sink can add its own tags or child spans.
    private void StartSpan(PendingBatch pending)
    {
        pending.StartTimestamp = _timeProvider.GetTimestamp();
        if (!ProducerActivitySource.Source.HasListeners())
        {
            return;
        }

        // An activity listener's callbacks (sampling, start, stop) are user code: a throwing one costs the span only.
        try
        {
            StartSpanCore(pending);
        }
        catch (Exception)
        {
            pending.Activity = null;
        }
    }

    private void StartSpanCore(PendingBatch pending)
    {
        Activity? activity = ProducerActivitySource.Source.StartActivity(_spanName, ActivityKind.Producer);
        if (activity is null)
        {
            return;
        }

        foreach (KeyValuePair<string, object?> tag in _telemetryTags)
        {
            activity.SetTag(tag.Key, tag.Value);
        }

        activity.SetTag(TelemetryNames.OperationTypeTag, "send");
        activity.SetTag(TelemetryNames.OperationNameTag, "send");
        activity.SetTag(TelemetryNames.BatchMessageCountTag, pending.Batch.Length);
        pending.Activity = activity;
    }

    private static void EndSpan(PendingBatch pending, string outcome, Exception? error)
    {
        if (pending.Activity is not { } activity)
        {
            return;
        }

        pending.Activity = null;
        try
        {
            activity.SetTag(TelemetryNames.OutcomeTag, outcome);
            if (error is not null)
            {
                activity.SetTag(TelemetryNames.ErrorTypeTag, error.GetType().Name);
                activity.SetStatus(ActivityStatusCode.Error, error.Message);
            }

            activity.Stop();
        }
        catch (Exception)
        {
            // A listener's ActivityStopped threw: the span is lost, nothing else.
        }
    }

    private sealed class PendingBatch(T[] batch, long number)
    {
        private const int Waiting = 0;
        private const int HandedOver = 1;
        private const int Claimed = 2;

        // Waiting -> HandedOver (the sink is given the batch) -> Claimed (its outcome is decided), or Waiting -> Claimed
        // (abandoned before the sink saw it). One field, so a claim and the hand-over can never both miss each other.
        private int _state;
        private readonly TaskCompletionSource _settled = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _inSink;

        public T[] Batch { get; } = batch;

        public long Number { get; } = number;

        public Task<BatchResult>? Acknowledgement { get; set; }

        public bool WindowTaken { get; set; }

        public long StartTimestamp { get; set; }

        public Activity? Activity { get; set; }

        // Completes once the batch's outcome has been counted and handed back, by whoever claimed it.
        public Task Settled => _settled.Task;

        public void MarkSettled() => _settled.TrySetResult();

        // True while the sink's AcceptAsync has the batch. Interlocked, for EnterSink's fence.
        public bool InSink
        {
            get => Volatile.Read(ref _inSink) != 0;
            set => Interlocked.Exchange(ref _inSink, value ? 1 : 0);
        }

        // Called once, just before the batch goes to the sink; false when it was already claimed (abandoned).
        public bool TryMarkInFlight() => Interlocked.CompareExchange(ref _state, HandedOver, Waiting) == Waiting;

        // The first to claim a batch decides its items' outcome; everybody else leaves it alone. wasInFlight: the
        // batch's items are counted in InFlight and the claimer takes them off.
        public bool TryClaim(out bool wasInFlight)
        {
            int previous = Interlocked.Exchange(ref _state, Claimed);
            wasInFlight = previous == HandedOver;
            return previous != Claimed;
        }
    }
}
