using DataflowProducer.Kafka.Testing;

namespace DataflowProducer.Kafka.Tests.TestSupport;

/// <summary>
/// The set-up the mock-cluster fixtures share: a fresh 3-broker <see cref="MockKafkaCluster"/> per test, with a
/// 4-partition topic of its own (GUID-named, so no test reads another's records), disposed after the test.
/// </summary>
/// <param name="topicPrefix">The start of each topic's name, so a leftover topic says which fixture made it.</param>
/// <param name="replicationFactor">The topic's replication factor.</param>
public abstract class MockClusterFixture(string topicPrefix, int replicationFactor = 1)
{
    internal MockKafkaCluster Cluster { get; private set; } = null!;

    internal string Topic { get; private set; } = null!;

    [SetUp]
    public void StartCluster()
    {
        Cluster = MockKafkaCluster.Start(3);
        Topic = $"{topicPrefix}-{Guid.NewGuid():N}";
        Cluster.CreateTopic(Topic, partitions: 4, replicationFactor: replicationFactor);
    }

    [TearDown]
    public void StopCluster() => Cluster.Dispose();
}
