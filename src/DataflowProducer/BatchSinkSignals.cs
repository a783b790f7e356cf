using System.Diagnostics;
using DataflowProducer.Diagnostics;

namespace DataflowProducer;

/// <summary>What a sink may report to the pipeline it serves, for the pipeline's telemetry; given to the sink through
/// <see cref="IBatchSinkHooks{T}.Attach"/>.</summary>
public sealed class BatchSinkSignals
{
    private readonly ProducerMetrics _metrics;
    private readonly TagList _tags;

    internal BatchSinkSignals(ProducerMetrics metrics, TagList tags)
    {
        _metrics = metrics;
        _tags = tags;
        _tags.Add(TelemetryNames.ReasonTag, TelemetryNames.ClientQueueReason);
    }

    /// <summary>Reports that the sink had to wait because its client's own queue was full (for Kafka,
    /// <c>Local_QueueFull</c>): counted on <c>dataflowproducer.backpressure.waits</c> with the reason
    /// <c>client_queue</c>. Call it once per wait, not once per retry. Never throws.</summary>
    public void ClientQueueFull()
    {
        if (_metrics.BackpressureWaits.Enabled)
        {
            ProducerMetrics.Add(_metrics.BackpressureWaits, 1, _tags);
        }
    }
}
