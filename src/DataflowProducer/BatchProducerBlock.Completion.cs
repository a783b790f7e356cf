using System.Globalization;
using System.Threading.Tasks.Dataflow;
using DataflowProducer.Diagnostics;

namespace DataflowProducer;

// Completion (DESIGN 4.3, 4.8, 4.11, 4.12, 4.14-4.16): the drain, the flush, the abort, the settle time, and the
// end of Completion with the counts.
public sealed partial class BatchProducerBlock<T>
{
    private const int Aborted = 1;
    private const int FinishedCleanly = 2;

    // How long past the time it was given a sink call is waited for after an abort: a flush that ignores its timeout
    // or cancellation, a dispose that blocks. Bounded, so a stuck sink cannot hold Completion (DESIGN 4.14).
    private static readonly TimeSpan OverrunAllowance = TimeSpan.FromSeconds(5);

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
            _emitter?.Complete();
            _completion.TrySetException(new BatchProducerException<T>($"The pipeline failed internally; the counts may be incomplete. {ex.Message}", ex, [], []) { Statistics = GetStatistics() });
        }
        finally
        {
            _observation.Dispose();
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
            // The flush's own token is canceled when the settle time after an abort ends (at once after a drain
            // timeout): like every wait after an abort, the flush shares that one deadline.
            await StartFlush(RemainingDrainTime(), _flushCancellation.Token).WaitAsync(_abort.Token).ConfigureAwait(false);
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

    // The time an abort gives what the sink was handed: the settle time, cut to what is left of a drain under way;
    // none after a drain timeout.
    private TimeSpan SettleTime()
    {
        if (Volatile.Read(ref _drainTimedOut) != 0)
        {
            return TimeSpan.Zero;
        }

        TimeSpan settle = _options.SettleTime;
        if (Volatile.Read(ref _completeRequested) != 0 && RemainingDrainTime() is var left && left != Timeout.InfiniteTimeSpan && left < settle)
        {
            settle = left;
        }

        return settle;
    }

    // What is left of the settle time that began with the abort: every wait after an abort shares this one deadline.
    private TimeSpan SettleLeft()
    {
        long until = Volatile.Read(ref _settleUntil);
        if (until == 0)
        {
            return SettleTime();
        }

        long now = _timeProvider.GetTimestamp();
        return now >= until ? TimeSpan.Zero : _timeProvider.GetElapsedTime(now, until);
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

    // Never throws: it runs from timer and cancellation callbacks, from Fault() and Complete(), and from user
    // callbacks that fault the block from inside.
    private void Abort(Exception reason, string why)
    {
        if (Interlocked.CompareExchange(ref _state, Aborted, 0) != 0)
        {
            return;
        }

        Volatile.Write(ref _abortReason, reason);
        Volatile.Write(ref _settleUntil, _timeProvider.GetTimestamp() + (long)(SettleTime().TotalSeconds * _timeProvider.TimestampFrequency));
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
        CancelFlushWhenTheSettleTimeEnds();
        _aborted.TrySetResult();
    }

    private void CancelFlushWhenTheSettleTimeEnds()
    {
        TimeSpan left = SettleLeft();
        if (left <= TimeSpan.Zero)
        {
            Observe(_flushCancellation.CancelAsync());
            return;
        }

        Task.Delay(left, _timeProvider).ContinueWith(
            static (_, state) => Observe(((CancellationTokenSource)state!).CancelAsync()),
            _flushCancellation,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
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

            // Give what the sink was handed the settle time to report its real outcome, item by item, before whole
            // batches are abandoned as unknown: one last flush. The sink is flushed once per pipeline: when the
            // drain's own flush already ran (or is still running past the drain timeout), it has had its chance.
            if (Volatile.Read(ref _flush) is { } drainFlush)
            {
                // Aborted during the drain's flush. After a drain timeout the flush has had its time; after any other
                // abort it gets the settle time to report what it knows.
                if (Volatile.Read(ref _drainTimedOut) == 0)
                {
                    await FinishesWithinAsync(drainFlush, SettleLeft() + OverrunAllowance).ConfigureAwait(false);
                }

                Observe(drainFlush);
            }
            else
            {
                TimeSpan settle = SettleLeft();
                Task flush = StartFlush(settle, _flushCancellation.Token);
                if (!await FinishesWithinAsync(flush, settle + OverrunAllowance).ConfigureAwait(false))
                {
                    Log.FlushFailed(_logger, new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"The sink's flush did not finish within the settle time ({settle}) and {OverrunAllowance} more after the abort.")));
                    Observe(flush);
                }
                else if (flush.IsFaulted)
                {
                    Log.FlushFailed(_logger, flush.Exception.InnerException ?? flush.Exception);
                }
            }

            // A sink call still under way: a sink that honours the abort's cancellation returns within the settle time
            // with what it knows (for Kafka, which records it never passed on); one that ignores it is given up on.
            if (Volatile.Read(ref _accepting) is { InSink: true } && !_producer.Completion.IsCompleted)
            {
                await FinishesWithinAsync(_producer.Completion, SettleLeft()).ConfigureAwait(false);
            }

            // In acceptance order, so outcomes and hand-backs come in that order too. First the batches accepted by
            // the sink: reported as the sink said, or unknown when their acknowledgement did not come in time.
            while (_pending.Reader.TryRead(out PendingBatch? pending))
            {
                await SettleAtFinishAsync(pending, reason).ConfigureAwait(false);
            }

            // The batch the produce stage still holds: inside a sink call that ignored cancellation past the settle
            // time (unknown), waiting for the window (not sent), or taken by the sink just as the channel closed. If
            // its outcome is known, it counts.
            if (Interlocked.Exchange(ref _accepting, null) is { } accepting)
            {
                await SettleAtFinishAsync(accepting, reason).ConfigureAwait(false);
            }

            // What the batch block held: never batched, never sent.
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
                _ledger.Abandoned(dropped, reason, OutcomeStatus.NotSent);
                _emitter?.Add(new BatchOutcome<T>(Volatile.Read(ref _batchSequence) + 1, [.. dropped], OutcomeStatus.NotSent, reason));
            }
        }

        _emitter?.Complete();
        BatchProducerStatistics s = GetStatistics();
        Log.DrainCompleted(_logger, s.Accepted, s.Delivered, s.Failed, s.Abandoned, s.NotSent, s.Unknown, s.Batches);

        if (_ownedResource is { } owned)
        {
            // On the pool and bounded by the settle time: a client whose dispose blocks or never ends must not hold
            // Completion; the counts are final already.
            Task disposal = Task.Run(() => DisposeOwnedAsync(owned), CancellationToken.None);
            if (!await FinishesWithinAsync(disposal, OverrunAllowance).ConfigureAwait(false))
            {
                Log.DisposeFailed(_logger, new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"Disposing what the pipeline owns did not finish within {OverrunAllowance}.")));
                Observe(disposal);
            }
            else if (disposal.IsFaulted)
            {
                Log.DisposeFailed(_logger, disposal.Exception.InnerException ?? disposal.Exception);
            }
        }

        // No longer observed before Completion ends: a collection after Completion must not report a finished pipeline.
        _observation.Dispose();
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
            : string.Create(CultureInfo.InvariantCulture, $"Not every item was delivered: {s.Accepted} accepted, {s.Delivered} delivered, {s.Failed} failed, {s.Abandoned} abandoned ({s.NotSent} not sent, {s.Unknown} unknown; {s.Batches} batches).");
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
}
