namespace DataflowProducer.Kafka.Testing;

/// <summary>
/// Kafka protocol request types (API keys), for <see cref="MockKafkaCluster.PushRequestErrors(KafkaApiKey, Confluent.Kafka.ErrorCode[])"/>.
/// </summary>
/// <remarks>
/// Only the keys a producer pipeline test usually needs are named; any other key of the Kafka protocol
/// can be passed by casting its number, e.g. <c>(KafkaApiKey)32</c> for DescribeConfigs.
/// </remarks>
#pragma warning disable CA1028 // The protocol defines API keys as int16; the enum mirrors it.
public enum KafkaApiKey : short
#pragma warning restore CA1028
{
    /// <summary>Produce (0): writes record batches to partition leaders.</summary>
    Produce = 0,

    /// <summary>Fetch (1): reads record batches.</summary>
    Fetch = 1,

    /// <summary>ListOffsets (2): looks up offsets, e.g. watermarks.</summary>
    ListOffsets = 2,

    /// <summary>Metadata (3): brokers, topics, partitions and leaders.</summary>
    Metadata = 3,

    /// <summary>OffsetCommit (8): commits consumer group offsets.</summary>
    OffsetCommit = 8,

    /// <summary>OffsetFetch (9): reads committed consumer group offsets.</summary>
    OffsetFetch = 9,

    /// <summary>FindCoordinator (10): finds the group or transaction coordinator.</summary>
    FindCoordinator = 10,

    /// <summary>JoinGroup (11).</summary>
    JoinGroup = 11,

    /// <summary>Heartbeat (12).</summary>
    Heartbeat = 12,

    /// <summary>LeaveGroup (13).</summary>
    LeaveGroup = 13,

    /// <summary>SyncGroup (14).</summary>
    SyncGroup = 14,

    /// <summary>ApiVersions (18): the first request on every connection.</summary>
    ApiVersions = 18,

    /// <summary>InitProducerId (22): gets the producer id and epoch of an idempotent or transactional producer.</summary>
    InitProducerId = 22,

    /// <summary>AddPartitionsToTxn (24).</summary>
    AddPartitionsToTxn = 24,

    /// <summary>AddOffsetsToTxn (25).</summary>
    AddOffsetsToTxn = 25,

    /// <summary>EndTxn (26): commits or aborts a transaction.</summary>
    EndTxn = 26,

    /// <summary>TxnOffsetCommit (28).</summary>
    TxnOffsetCommit = 28,
}
