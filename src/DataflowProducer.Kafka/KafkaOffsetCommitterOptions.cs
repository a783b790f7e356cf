namespace DataflowProducer.Kafka;

/// <summary>Options for <see cref="KafkaOffsetCommitter{T}"/>. Copied when the committer is built.</summary>
/// <typeparam name="T">The type of the produced items.</typeparam>
public sealed class KafkaOffsetCommitterOptions<T>
{
    internal const int DefaultBoundedCapacity = 16;

    /// <summary>Gets or sets the dead-letter handler for items that failed. When it returns, the failed item's source
    /// record counts as handled and its partition's offset may pass it; when it throws (or is canceled), the partition
    /// stops there, as without a handler.</summary>
    /// <value>The default is null: a failed item stops its partition's commits at the record before it until the
    /// partition is revoked (or the consumer restarts, which reads the failed record again).</value>
    /// <remarks>Called on the committer's thread, one item at a time, in outcome order; outcomes wait behind it. The
    /// token is canceled when the committer is faulted.</remarks>
    public Func<ItemOutcome<T>, CancellationToken, Task>? DeadLetter { get; set; }

    /// <summary>Gets or sets how many batch outcomes the committer holds before its source waits.</summary>
    /// <value>At least 1. The default is 16.</value>
    public int BoundedCapacity { get; set; } = DefaultBoundedCapacity;

    internal KafkaOffsetCommitterOptions<T> Clone() => (KafkaOffsetCommitterOptions<T>)MemberwiseClone();
}
