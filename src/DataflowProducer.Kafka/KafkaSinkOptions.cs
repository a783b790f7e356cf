using Confluent.Kafka;

namespace DataflowProducer.Kafka;

/// <summary>Options for <see cref="KafkaBatchSink{TKey, TValue}"/>. Copied when the sink is built.</summary>
/// <typeparam name="TKey">The key type.</typeparam>
/// <typeparam name="TValue">The value type.</typeparam>
public sealed class KafkaSinkOptions<TKey, TValue>
{
    /// <summary>The default for <see cref="QueueFullRetryInterval"/>: 100 milliseconds.</summary>
    public static readonly TimeSpan DefaultQueueFullRetryInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>Gets or sets the topic for records whose <see cref="KafkaRecord{TKey, TValue}.Topic"/> is null.</summary>
    /// <value>The default is null: every record must name its topic, or it fails.</value>
    public string? DefaultTopic { get; set; }

    /// <summary>Gets or sets the key serializer used when the sink builds its producer.</summary>
    /// <value>The default is null: Confluent's serializer for <typeparamref name="TKey"/>.</value>
    public ISerializer<TKey>? KeySerializer { get; set; }

    /// <summary>Gets or sets the value serializer used when the sink builds its producer.</summary>
    /// <value>The default is null: Confluent's serializer for <typeparamref name="TValue"/>.</value>
    public ISerializer<TValue>? ValueSerializer { get; set; }

    /// <summary>Gets or sets an asynchronous key serializer (for example a Schema Registry serializer), used when the
    /// sink builds its producer. Takes precedence over <see cref="KeySerializer"/>.</summary>
    /// <value>The default is null.</value>
    public IAsyncSerializer<TKey>? AsyncKeySerializer { get; set; }

    /// <summary>Gets or sets an asynchronous value serializer (for example a Schema Registry serializer), used when the
    /// sink builds its producer. Takes precedence over <see cref="ValueSerializer"/>.</summary>
    /// <value>The default is null.</value>
    public IAsyncSerializer<TValue>? AsyncValueSerializer { get; set; }

    /// <summary>Gets or sets how long the sink waits, at most, before retrying a message the client refused with
    /// <c>Local_QueueFull</c>. A delivery report that frees room ends the wait earlier.</summary>
    /// <value>Greater than zero. The default is <see cref="DefaultQueueFullRetryInterval"/> (100 ms).</value>
    public TimeSpan QueueFullRetryInterval { get; set; } = DefaultQueueFullRetryInterval;

    /// <summary>Gets or sets a value indicating whether the trace context of the activity current when a record is posted
    /// (W3C <c>traceparent</c>, <c>tracestate</c> when it has one, <c>baggage</c> when it carries baggage, written by
    /// <see cref="System.Diagnostics.DistributedContextPropagator.Current"/>) goes into the record's headers, so consumers
    /// continue the trace the record was created in. The batch's send span links to that context; it is not the send
    /// span's own.</summary>
    /// <value>The default is false. When true, a record posted while an <see cref="System.Diagnostics.Activity"/> is current
    /// gets its headers set (replacing earlier values of those headers); records posted without one are left alone.</value>
    public bool InjectTraceContext { get; set; }

    /// <summary>Gets or sets a value indicating whether each batch's result carries a <see cref="DeliveryReceipt"/>
    /// (topic, partition, offset, timestamp) for every delivered message, for <see cref="BatchProducerBlock{T}.Outcomes"/>.</summary>
    /// <value>The default is false: nothing is allocated for receipts. <see cref="KafkaProducerBlock"/> turns it on when
    /// <see cref="BatchProducerOptions.EmitOutcomes"/> is on.</value>
    public bool DeliveryReceipts { get; set; }

    internal KafkaSinkOptions<TKey, TValue> Clone() => (KafkaSinkOptions<TKey, TValue>)MemberwiseClone();
}
