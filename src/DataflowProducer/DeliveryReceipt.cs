namespace DataflowProducer;

/// <summary>Where a delivered item landed, as far as the sink knows; for Kafka the topic, partition, offset and
/// timestamp of the written record.</summary>
/// <param name="Destination">The destination's name (for Kafka, the topic); null when unknown.</param>
/// <param name="Partition">The partition, or null when the destination has none or it is unknown.</param>
/// <param name="Offset">The position within the destination (for Kafka, the offset), or null when unknown.</param>
/// <param name="Timestamp">The time the destination recorded, or null when unknown.</param>
public readonly record struct DeliveryReceipt(string? Destination, int? Partition, long? Offset, DateTimeOffset? Timestamp);
