using System.Threading.Channels;
using DataflowProducer.Diagnostics;

namespace DataflowProducer;

// Outcomes (DESIGN 4.7, 4.9, 4.10): acknowledgements reported in order, and the one path that settles a batch
// without an outcome.
public sealed partial class BatchProducerBlock<T>
{
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
                    if (_emitter is { } emitter)
                    {
                        // A slow reader of outcomes holds the next report back, and with it the window and the capacity.
                        await emitter.WaitForRoomAsync(_abort.Token).ConfigureAwait(false);
                    }
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
        var tally = default(Tally);
        try
        {
            if (result.Failed.Count == 0 && result.Abandoned.Count == 0 && result.NotSent.Count == 0)
            {
                tally.Delivered = batch.Length;
                _ledger.Delivered(batch.Length, _ledger.WantsDeliveredItems ? batch : null);
                _emitter?.Add(new BatchOutcome<T>(pending.Number, batch, OutcomeStatus.Delivered, null, result.Receipts));
                return;
            }

            tally = ReportItemByItem(pending, result);
        }
        finally
        {
            Log.BatchAcknowledged(_logger, pending.Number, tally.Delivered, tally.Failed, tally.NotSent, tally.Unknown);
            if (wasInFlight)
            {
                AdaptGuarded(pending);
                RecordOutcome(pending, result, tally);
            }

            // Stop before the window and the capacity are released: otherwise the next batch, already waiting for
            // the window, would reach the sink after the failure that should have stopped the pipeline.
            if (tally.Failed > 0 && _options.FailurePolicy == FailurePolicy.FaultPipeline)
            {
                Abort(new BatchProducerException($"{tally.Failed} item(s) of batch {pending.Number} failed and the failure policy is FaultPipeline.", _ledger.FirstFailure), "an item failed under FailurePolicy.FaultPipeline");
            }

            pending.MarkSettled();
            _batcher.Release(batch);
            _window.Release();
        }
    }

    // A batch the sink did not fully deliver. Out-of-range indexes are logged and ignored, so a faulty sink cannot make
    // the counts disagree; items neither failed nor abandoned were delivered.
    private Tally ReportItemByItem(PendingBatch pending, BatchResult result)
    {
        T[] batch = pending.Batch;
        var statuses = new OutcomeStatus[batch.Length];
        Exception?[] errors = new Exception?[batch.Length];
        var tally = default(Tally);
        foreach (BatchItemError failure in result.Failed)
        {
            if (InRange(pending, failure.Index))
            {
                tally.Failed++;
                tally.FirstError ??= failure.Error;
                statuses[failure.Index] = OutcomeStatus.Failed;
                errors[failure.Index] = failure.Error;
                _ledger.Failed(batch[failure.Index], failure.Error, pending.Number, failure.Index);
            }
        }

        Exception reason = IsAborted ? AbortReason : new TimeoutException("The sink could not learn these items' outcome before its flush ended.");
        Exception notSentReason = IsAborted ? AbortReason : new OperationCanceledException("The sink did not pass these items on.");
        tally.Unknown = HandBack(pending, result.Abandoned, OutcomeStatus.Unknown, reason, statuses, errors);
        tally.NotSent = HandBack(pending, result.NotSent, OutcomeStatus.NotSent, notSentReason, statuses, errors);
        tally.UnknownReason = tally.Unknown > 0 ? reason : null;
        tally.NotSentReason = tally.NotSent > 0 ? notSentReason : null;

        List<T>? delivered = _ledger.WantsDeliveredItems ? [] : null;
        for (int i = 0; i < batch.Length; i++)
        {
            if (statuses[i] == OutcomeStatus.Delivered)
            {
                tally.Delivered++;
                delivered?.Add(batch[i]);
            }
        }

        _ledger.Delivered(tally.Delivered, delivered);
        _emitter?.Add(new BatchOutcome<T>(pending.Number, batch, statuses, errors, result.Receipts));
        return tally;
    }

    // Abandoned items of a reported batch, all of one status: marked, and handed back as one group.
    private int HandBack(PendingBatch pending, IReadOnlyList<int> indexes, OutcomeStatus status, Exception reason, OutcomeStatus[] statuses, Exception?[] errors)
    {
        List<T>? items = null;
        foreach (int index in indexes)
        {
            if (InRange(pending, index))
            {
                statuses[index] = status;
                errors[index] = reason;
                (items ??= []).Add(pending.Batch[index]);
            }
        }

        if (items is null)
        {
            return 0;
        }

        _ledger.Abandoned(items, reason, status);
        return items.Count;
    }

    private bool InRange(PendingBatch pending, int index)
    {
        if ((uint)index < (uint)pending.Batch.Length)
        {
            return true;
        }

        Log.ResultIndexOutOfRange(_logger, pending.Number, index, pending.Batch.Length);
        return false;
    }

    // The one way a batch without an outcome is settled, by whoever claims it first: off InFlight, its span ended,
    // its items abandoned and handed back — not sent when the sink never had it, unknown when it did. False when
    // somebody else claimed it.
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
                RecordAbandoned(pending, reason);
            }

            OutcomeStatus status = wasInFlight ? OutcomeStatus.Unknown : OutcomeStatus.NotSent;
            _ledger.Abandoned(pending.Batch, reason, status);
            _emitter?.Add(new BatchOutcome<T>(pending.Number, pending.Batch, status, reason));
        }
        finally
        {
            pending.MarkSettled();
            _batcher.ForgetBytes(pending.Batch);
        }

        return true;
    }

    // What became of a reported batch's items.
    private struct Tally
    {
        public int Delivered;
        public int Failed;
        public int NotSent;
        public int Unknown;
        public Exception? FirstError;
        public Exception? UnknownReason;    // why the unknown items were abandoned, when there are any
        public Exception? NotSentReason;    // why the not-sent items were abandoned, when there are any
    }
}
