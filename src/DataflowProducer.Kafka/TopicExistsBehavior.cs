namespace DataflowProducer.Kafka;

/// <summary>What <see cref="KafkaTopics"/> does when the topic it ensures already exists.</summary>
public enum TopicExistsBehavior
{
    /// <summary>Compare the topic with the specification and report the differences; change nothing.</summary>
    Verify = 0,

    /// <summary>Set every asked config whose value differs (IncrementalAlterConfigs, Kafka 2.3+); other configs of
    /// the topic are left as they are.</summary>
    AlterConfigs = 1,
}
