using DataflowProducer.Diagnostics;

namespace DataflowProducer;

// Handing batches to the sink (DESIGN 4.6, 4.7): one at a time, in order, within the in-flight window.
public sealed partial class BatchProducerBlock<T>
{
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
}
