using System.Diagnostics;
using System.Text;

namespace DataflowProducer.Kafka;

// What the sink tells the pipeline beyond batches: Kafka's telemetry tags, the poster's trace context, and whether
// the pipeline owns it.
public sealed partial class KafkaBatchSink<TKey, TValue> : IBatchSinkHooks<KafkaRecord<TKey, TValue>>
{
    private KeyValuePair<string, object?>[]? _telemetryTags;

    /// <inheritdoc />
    /// <remarks><c>messaging.system</c> is <c>kafka</c>; with a default topic, <c>messaging.destination.name</c> is it
    /// (OpenTelemetry messaging conventions).</remarks>
    IReadOnlyList<KeyValuePair<string, object?>> IBatchSinkHooks<KafkaRecord<TKey, TValue>>.TelemetryTags =>
        _telemetryTags ??= _options.DefaultTopic is { } topic
            ? [new("messaging.system", "kafka"), new("messaging.destination.name", topic)]
            : [new("messaging.system", "kafka")];

    /// <inheritdoc />
    string? IBatchSinkHooks<KafkaRecord<TKey, TValue>>.DestinationName => _options.DefaultTopic;

    /// <inheritdoc />
    /// <remarks>True only for a sink <see cref="KafkaProducerBlock"/> built for its block.</remarks>
    bool IBatchSinkHooks<KafkaRecord<TKey, TValue>>.DisposeWhenFinished => DisposeWithPipeline;

    // Set by KafkaProducerBlock.Create for a sink it built: the pipeline disposes it, and with it the producer.
    internal bool DisposeWithPipeline { get; init; }

    // Set by KafkaProducerBlock.Create when its block emits outcomes: delivered messages then carry receipts, as with
    // KafkaSinkOptions.DeliveryReceipts. Off, nothing is allocated for them.
    internal bool ReceiptsForOutcomes { get; init; }

    /// <inheritdoc />
    /// <remarks>With <see cref="KafkaSinkOptions{TKey, TValue}.InjectTraceContext"/>, writes the poster's trace context
    /// (W3C <c>traceparent</c>, via <see cref="DistributedContextPropagator.Current"/>) into the record's headers: this
    /// runs on the poster's thread, so <see cref="Activity.Current"/> is the poster's.</remarks>
    void IBatchSinkHooks<KafkaRecord<TKey, TValue>>.OnOffered(KafkaRecord<TKey, TValue> item)
    {
        if (!_options.InjectTraceContext || item is null || Activity.Current is not { } activity)
        {
            return;
        }

        DistributedContextPropagator.Current.Inject(activity, item, static (carrier, name, value) =>
        {
            var target = (KafkaRecord<TKey, TValue>)carrier!;
            target.Headers ??= [];
            target.Headers.Remove(name);
            target.Headers.Add(name, Encoding.UTF8.GetBytes(value));
        });
    }
}
