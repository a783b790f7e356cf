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
        Exception? abandonReason = null;
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
                abandonReason = IsAborted ? AbortReason : new TimeoutException("The sink could not learn these items' outcome before its flush ended.");
                _ledger.Abandoned(lost, abandonReason);
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
                RecordOutcome(pending, result, failed, abandoned, abandonReason);
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
                RecordAbandoned(pending, reason);
            }

            _ledger.Abandoned(pending.Batch, reason);
        }
        finally
        {
            pending.MarkSettled();
        }

        return true;
    }
}
