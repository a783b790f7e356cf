using System.Diagnostics;
using System.Diagnostics.Metrics;
using DataflowProducer.Diagnostics;

namespace DataflowProducer;

// Backpressure signals: offers that found no room (dataflowproducer.backpressure.waits), and what the pipeline holds
// (dataflowproducer.messages.held, dataflowproducer.bytes.held), observed from the lock-free statistics when a
// listener collects, so the hot path pays nothing for them.
public sealed partial class BatchProducerBlock<T>
{
    // Called for an offer without a source that was declined for lack of room: a Post that returns false, or the first
    // try of a SendAsync, which then waits. SendAsync's second offer (with a source, postponed) is not counted, so each
    // wait counts once.
    private void CountWait(string reason)
    {
        if (!_metrics.BackpressureWaits.Enabled)
        {
            return;
        }

        TagList tags = _tags;
        tags.Add(TelemetryNames.ReasonTag, reason);
        ProducerMetrics.Add(_metrics.BackpressureWaits, 1, tags);
    }

    private void AttachSignals(IBatchSinkHooks<T>? hooks)
    {
        try
        {
            hooks?.Attach(new BatchSinkSignals(_metrics, _tags));
        }
        catch (Exception)
        {
            // A hook is user code: the pipeline goes on without the sink's signals.
        }
    }

    private sealed class HeldObservation(BatchProducerBlock<T> block) : IHeldObservable
    {
        public Measurement<long>? MessagesHeld
        {
            get
            {
                BatchProducerStatistics s = block.GetStatistics();
                return new Measurement<long>(s.Accepted - s.Delivered - s.Failed - s.Abandoned, block._telemetryTags);
            }
        }

        public Measurement<long>? BytesHeld => block._itemSize is null ? null : new Measurement<long>(block._batcher.HeldBytes, block._telemetryTags);
    }
}
