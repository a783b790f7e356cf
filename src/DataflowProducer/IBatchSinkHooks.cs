using System.Diagnostics;

namespace DataflowProducer;

/// <summary>
/// What a sink may tell the pipeline beyond <see cref="IBatchSink{T}"/>: tags for its telemetry, what holds for one
/// batch, the trace context an item was offered under, a low-cardinality name for an error, an observer of offered
/// items, and whether the pipeline should dispose it at the end. A sink implements it when it needs any of these;
/// <see cref="BatchProducerBlock{T}"/> looks for it when it is constructed.
/// </summary>
/// <typeparam name="T">The type of the items.</typeparam>
/// <remarks>
/// The properties are read once, at construction; the methods are called as batches go. Every member is user code to
/// the pipeline: whatever one throws is ignored (the item goes on, the telemetry goes without that piece).
/// </remarks>
public interface IBatchSinkHooks<in T>
{
    /// <summary>Gets the tags the pipeline adds to every measurement and span (for Kafka: <c>messaging.system</c>,
    /// <c>messaging.client.id</c>, and <c>server.address</c>/<c>server.port</c> with a single bootstrap server).</summary>
    IReadOnlyList<KeyValuePair<string, object?>> TelemetryTags { get; }

    /// <summary>Gets a value indicating whether the pipeline disposes the sink (as <see cref="IAsyncDisposable"/> or
    /// <see cref="IDisposable"/>) once it has finished: true for a sink a factory built for the pipeline alone.</summary>
    bool DisposeWhenFinished { get; }

    /// <summary>Called with each item offered by value, on the poster's thread, before the pipeline decides whether to
    /// take it; for example to capture the poster's trace context.</summary>
    /// <param name="item">The item.</param>
    void OnOffered(T item);

    /// <summary>Returns the tags that hold for every item of one batch, added to its span and to the messaging
    /// instruments it is measured on: for Kafka, <c>messaging.destination.name</c> when every record goes to one topic
    /// and <c>messaging.destination.partition.id</c> when every record names one partition too. The span is named
    /// <c>send {messaging.destination.name}</c> when the tags hold one, else <c>send</c>.</summary>
    /// <param name="batch">The batch about to be handed to the sink.</param>
    /// <returns>The tags; empty (the default) for none.</returns>
    /// <remarks>Called once per batch while a listener records the pipeline's spans or messaging instruments.</remarks>
    IReadOnlyList<KeyValuePair<string, object?>> GetBatchTags(IReadOnlyList<T> batch) => [];

    /// <summary>Returns the trace context the item was offered under (captured by <see cref="OnOffered"/>); the batch's
    /// span links to each one, and is a child of it when every item of the batch shares it.</summary>
    /// <param name="item">An item of a batch.</param>
    /// <returns>The context; <see langword="default"/> (the default) for none.</returns>
    /// <remarks>Called for each item of a batch while a listener records the pipeline's spans.</remarks>
    ActivityContext GetOfferedContext(T item) => default;

    /// <summary>Returns a low-cardinality identifier of an error for <c>error.type</c> (for Kafka, the error code's name
    /// such as <c>MsgSizeTooLarge</c>), or null to use the exception's full type name without generic arity.</summary>
    /// <param name="exception">An item's failure, or why a batch was abandoned.</param>
    /// <returns>The identifier, or null (the default).</returns>
    string? GetErrorType(Exception exception) => null;

    /// <summary>Gets how the sink measures an item for <see cref="BatchProducerOptions.BoundedBytes"/> and
    /// <see cref="BatchProducerOptions.MaxBatchBytes"/> when <see cref="BatchProducerOptions.ItemSize"/> is not set
    /// (for Kafka records: key + value + headers), or null when it cannot.</summary>
    /// <value>The default is null: <see cref="BatchProducerOptions.ItemSize"/> is then required with a bytes setting.</value>
    /// <remarks>Read once, at construction, only when a bytes setting is set.</remarks>
    Func<T, long>? ItemSize => null;

    /// <summary>Called once, when the pipeline is constructed, with what the sink may report to it (such as a full client
    /// queue, for the backpressure telemetry). A sink serves one pipeline: a later call replaces an earlier one.</summary>
    /// <param name="signals">The pipeline's signals.</param>
    /// <remarks>The default does nothing.</remarks>
    void Attach(BatchSinkSignals signals)
    {
    }
}
