using DataflowProducer.Diagnostics;
using DataflowProducer.Internal;

namespace DataflowProducer;

// Adaptive batching (BatchProducerOptions.Adaptive): the outcome reporter feeds each acknowledged batch's latency and
// whether the pipeline was under pressure to the rule (Internal/AdaptiveBatching.cs), and applies what it decides to
// the batch block, with a log event and measurements. It runs on the reporter only, so the rule needs no lock of its
// own; the batch block applies a change under its lock.
public sealed partial class BatchProducerBlock<T>
{
    private static readonly KeyValuePair<string, object?> GrowTag = new(TelemetryNames.LimitDirectionTag, "grow");
    private static readonly KeyValuePair<string, object?> ShrinkTag = new(TelemetryNames.LimitDirectionTag, "shrink");

    private static AdaptiveBatching? AdaptiveBatchingFor(BatchProducerOptions options) =>
        options.Adaptive is { } adaptive ? new AdaptiveBatching(adaptive, options.BatchSize, options.Linger, options.TimeProvider) : null;

    private void RecordLimits(AdaptiveBatching adaptive)
    {
        ProducerMetrics.Record(_metrics.BatchSizeLimit, adaptive.BatchSize, Tags());
        if (adaptive.Linger != Timeout.InfiniteTimeSpan)
        {
            ProducerMetrics.Record(_metrics.BatchLingerLimit, adaptive.Linger.TotalSeconds, Tags());
        }
    }

    // Adapt runs inside Report's finally, before the window slot and the capacity are released: nothing it calls (the
    // injected TimeProvider, the logger, a meter listener) may keep them from being released.
    private void AdaptGuarded(PendingBatch pending)
    {
        try
        {
            Adapt(pending);
        }
        catch (Exception)
        {
            // This batch's limits stay as they were; the next acknowledgement is judged again.
        }
    }

    // Called by Report for a batch the sink had, before its window slot and capacity are released: a full window (every
    // slot taken, this batch's included) or postponed posters mean the pipeline is waiting for the sink.
    private void Adapt(PendingBatch pending)
    {
        // Nothing more is accepted once the block completes or aborts: the limits are final then.
        if (_adaptive is not { } adaptive || IsAborted || Volatile.Read(ref _completeRequested) != 0)
        {
            return;
        }

        bool underPressure = _window.CurrentCount == 0 || _batcher.HasWaitingPosters;
        if (adaptive.OnAcknowledged(_timeProvider.GetElapsedTime(pending.StartTimestamp), underPressure) is not { } change)
        {
            return;
        }

        _batcher.SetLimits(change.NewBatchSize, change.NewLinger);
        Log.BatchLimitsChanged(_logger, change.OldBatchSize, change.NewBatchSize, change.OldLinger, change.NewLinger, change.Reason);
        RecordLimits(adaptive);
        var tags = Tags();
        tags.Add(change.Grew ? GrowTag : ShrinkTag);
        ProducerMetrics.Add(_metrics.BatchLimitChanges, 1, tags);
    }
}
