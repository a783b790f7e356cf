using Confluent.Kafka;

namespace DataflowProducer.Kafka;

/// <summary>Options for <see cref="KafkaConsumerSource{TKey, TValue}"/>. Copied when the source is built.</summary>
/// <typeparam name="TKey">The key type.</typeparam>
/// <typeparam name="TValue">The value type.</typeparam>
public sealed class KafkaConsumerSourceOptions<TKey, TValue>
{
    internal const int DefaultBoundedCapacity = 1000;

    /// <summary>Gets or sets how many consumed records the source holds for its targets. When it is full the consume
    /// thread waits for room: a slow pipeline stops consumption, and no record is ever dropped.</summary>
    /// <value>At least 1. The default is 1000.</value>
    public int BoundedCapacity { get; set; } = DefaultBoundedCapacity;

    /// <summary>Gets or sets a value indicating whether the source completes once every assigned partition has reached
    /// its end (for a copy job). Turns the client's <c>enable.partition.eof</c> on.</summary>
    /// <value>The default is false: the source consumes until <see cref="KafkaConsumerSource{TKey, TValue}.Complete"/>
    /// or <see cref="KafkaConsumerSource{TKey, TValue}.DisposeAsync"/>.</value>
    public bool CompleteAtEndOfPartitions { get; set; }

    /// <summary>Gets or sets the key deserializer.</summary>
    /// <value>The default is null: Confluent's deserializer for <typeparamref name="TKey"/>.</value>
    public IDeserializer<TKey>? KeyDeserializer { get; set; }

    /// <summary>Gets or sets the value deserializer.</summary>
    /// <value>The default is null: Confluent's deserializer for <typeparamref name="TValue"/>.</value>
    public IDeserializer<TValue>? ValueDeserializer { get; set; }

    internal KafkaConsumerSourceOptions<TKey, TValue> Clone() => (KafkaConsumerSourceOptions<TKey, TValue>)MemberwiseClone();
}
