namespace DataflowProducer;

/// <summary>
/// What a sink may tell the pipeline beyond <see cref="IBatchSink{T}"/>: tags for its telemetry, an observer of
/// offered items, and whether the pipeline should dispose it at the end. A sink implements it when it needs any of
/// these; <see cref="BatchProducerBlock{T}"/> looks for it when it is constructed.
/// </summary>
/// <typeparam name="T">The type of the items.</typeparam>
/// <remarks>
/// The members are read once, at construction. <see cref="OnOffered"/> is user code to the pipeline: whatever it
/// throws is ignored and the item goes on.
/// </remarks>
public interface IBatchSinkHooks<in T>
{
    /// <summary>Gets the tags the pipeline adds to every measurement and span (for Kafka: <c>messaging.system</c> and,
    /// with a default topic, <c>messaging.destination.name</c>).</summary>
    IReadOnlyList<KeyValuePair<string, object?>> TelemetryTags { get; }

    /// <summary>Gets the destination each batch span is named after (<c>send {destination}</c>), or null to name it
    /// <c>send</c>.</summary>
    string? DestinationName { get; }

    /// <summary>Gets a value indicating whether the pipeline disposes the sink (as <see cref="IAsyncDisposable"/> or
    /// <see cref="IDisposable"/>) once it has finished: true for a sink a factory built for the pipeline alone.</summary>
    bool DisposeWhenFinished { get; }

    /// <summary>Called with each item offered by value, on the poster's thread, before the pipeline decides whether to
    /// take it; for example to capture the poster's trace context.</summary>
    /// <param name="item">The item.</param>
    void OnOffered(T item);
}
