using System.Diagnostics;
using Confluent.Kafka;

namespace DataflowProducer.Kafka;

/// <summary>A message to produce: Confluent's <see cref="Message{TKey, TValue}"/> (key, value, headers, timestamp)
/// plus where it goes.</summary>
/// <typeparam name="TKey">The key type.</typeparam>
/// <typeparam name="TValue">The value type.</typeparam>
public sealed class KafkaRecord<TKey, TValue> : Message<TKey, TValue>
{
    /// <summary>Initializes an empty record; set <see cref="Message{TKey, TValue}.Value"/> and, if needed, the rest.</summary>
    public KafkaRecord()
    {
    }

    /// <summary>Initializes a record with a key and a value.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value.</param>
    /// <param name="topic">The topic, or null for the sink's default topic.</param>
    public KafkaRecord(TKey key, TValue value, string? topic = null)
    {
        Key = key;
        Value = value;
        Topic = topic;
    }

    /// <summary>Gets or sets the topic to produce to.</summary>
    /// <value>The default is null: the sink's <see cref="KafkaSinkOptions{TKey, TValue}.DefaultTopic"/>.</value>
    public string? Topic { get; set; }

    /// <summary>Gets or sets the partition to produce to.</summary>
    /// <value>The default is null: the producer's partitioner chooses (by key).</value>
    public Partition? Partition { get; set; }

    // The trace context the record was posted under (KafkaBatchSink's OnOffered), for the batch span's links.
    internal ActivityContext OfferedContext { get; set; }

    /// <summary>Gets or sets what the job ties to this record, carried to its outcome and never produced: for a
    /// consume-transform-produce job, the <see cref="ConsumeResult{TKey, TValue}"/> (or its
    /// <see cref="TopicPartitionOffset"/>) the record was made from, which a <see cref="KafkaOffsetCommitter{T}"/>
    /// reads.</summary>
    /// <value>The default is null.</value>
    public object? Correlation { get; set; }

    /// <inheritdoc />
    public override string ToString() => $"KafkaRecord(Topic = {Topic ?? "<default>"}, Partition = {(Partition is { } p ? p.ToString() : "<any>")}, Key = {Key})";
}
