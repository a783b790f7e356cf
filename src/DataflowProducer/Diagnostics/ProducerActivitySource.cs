using System.Diagnostics;

namespace DataflowProducer.Diagnostics;

/// <summary>The <c>DataflowProducer</c> activity source: one span per batch, from handing it to the sink to its
/// acknowledgement.</summary>
internal static class ProducerActivitySource
{
    public static readonly ActivitySource Source = new(TelemetryNames.ActivitySourceName, TelemetryNames.Version);
}
