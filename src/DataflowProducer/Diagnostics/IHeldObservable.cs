using System.Diagnostics.Metrics;

namespace DataflowProducer.Diagnostics;

/// <summary>A pipeline as the observable instruments see it: its held messages and bytes with its tags, or null.</summary>
internal interface IHeldObservable
{
    Measurement<long>? MessagesHeld { get; }

    Measurement<long>? BytesHeld { get; }
}
