namespace DataflowProducer.Kafka;

/// <summary>What ensuring a topic came to.</summary>
public enum EnsureTopicOutcome
{
    /// <summary>The topic did not exist and was created as specified.</summary>
    Created = 0,

    /// <summary>The topic existed and matched the specification.</summary>
    Matched = 1,

    /// <summary>The topic existed and differs from the specification in ways that were left alone (configs in
    /// <see cref="TopicExistsBehavior.Verify"/> mode, more partitions or another replication factor than asked);
    /// <see cref="EnsureTopicResult.Differences"/> lists them.</summary>
    Differs = 2,

    /// <summary>The topic existed and was changed: configs set, or partitions added.</summary>
    Altered = 3,
}
