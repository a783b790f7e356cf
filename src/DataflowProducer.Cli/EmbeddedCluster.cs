using System.Globalization;
using DataflowProducer.Cli.Output;
using DataflowProducer.Kafka.Testing;

namespace DataflowProducer.Cli;

/// <summary>The cluster of a run without <c>--bootstrap-servers</c>: librdkafka's mock cluster, started for the run
/// with the topic created, and gone when the run ends.</summary>
internal sealed class EmbeddedCluster : IDisposable
{
    private readonly MockKafkaCluster _cluster;

    private EmbeddedCluster(MockKafkaCluster cluster) => _cluster = cluster;

    /// <summary>Gets the cluster's bootstrap servers.</summary>
    public string BootstrapServers => _cluster.BootstrapServers;

    /// <summary>Starts the cluster, creates the run's topic, and says so.</summary>
    /// <param name="settings">The run's settings: the topic, and <c>--ensure-topic</c>, <c>--partitions</c> or the
    /// input to size the partitions from.</param>
    /// <param name="reporter">Where the tool says what it started.</param>
    /// <returns>The running cluster; dispose it to stop it.</returns>
    public static EmbeddedCluster Start(ProduceSettings settings, Reporter reporter)
    {
        // With --ensure-topic the topic is created as asked, so that ensuring it (which the mock can only verify,
        // through metadata: it has no CreateTopics) finds it so.
        int partitions = settings.EnsureTopic?.Partitions ?? settings.Partitions ?? PartitionsFor(settings);
        int replicationFactor = settings.EnsureTopic?.ReplicationFactor ?? 1;
        MockKafkaCluster cluster = MockKafkaCluster.Start(MockKafkaCluster.DefaultBrokerCount);
        try
        {
            cluster.CreateTopic(settings.Topic, partitions, replicationFactor);
        }
        catch
        {
            cluster.Dispose();
            throw;
        }

        reporter.Line(string.Create(
            CultureInfo.InvariantCulture,
            $"No --bootstrap-servers: started an embedded Kafka cluster (librdkafka's mock, {cluster.BrokerCount} brokers) at {cluster.BootstrapServers}, topic '{settings.Topic}' with {partitions} partitions. It lives only as long as this run."));
        return new EmbeddedCluster(cluster);
    }

    public void Dispose() => _cluster.Dispose();

    // librdkafka's mock cluster keeps about 5 MB per partition and drops the oldest records beyond that, so a topic
    // that must hold a whole run (for --verify, or to be read back) gets enough partitions when the size is known.
    private static int PartitionsFor(ProduceSettings settings)
    {
        const int Default = 4;
        const int Maximum = 256;
        // Half of what a partition keeps: records spread unevenly over partitions (the sticky partitioner fills one
        // for a few milliseconds at a time, more of them with a wide in-flight window), and a partition that takes
        // more than its share must not lose any.
        const long BytesPerPartition = 2L * 1024 * 1024;
        const long RecordOverhead = 40;
        long bytes = settings.Generate is { } count
            ? count * (settings.Size + RecordOverhead)
            : settings.Input != "-" && File.Exists(settings.Input) ? new FileInfo(settings.Input).Length * 3 / 2 : 0;
        return (int)Math.Clamp((bytes + BytesPerPartition - 1) / BytesPerPartition, Default, Maximum);
    }
}
