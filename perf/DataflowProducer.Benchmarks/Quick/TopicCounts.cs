using Confluent.Kafka;

namespace DataflowProducer.Benchmarks.Quick;

/// <summary>Counts what a fresh topic received from its partitions' high watermarks.</summary>
public static class TopicCounts
{
    public static long HighWatermarkSum(string bootstrapServers, string topic)
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = bootstrapServers,
            GroupId = "bench-count-" + Guid.NewGuid().ToString("N"),
            AllowAutoCreateTopics = false,
        };
        using IConsumer<Ignore, Ignore> consumer = new ConsumerBuilder<Ignore, Ignore>(config).SetLogHandler(static (_, _) => { }).Build();
        using IAdminClient admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        TopicMetadata metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(30)).Topics.Single(t => t.Topic == topic);
        long sum = 0;
        foreach (PartitionMetadata partition in metadata.Partitions)
        {
            sum += consumer.QueryWatermarkOffsets(new TopicPartition(topic, partition.PartitionId), TimeSpan.FromSeconds(30)).High.Value;
        }

        return sum;
    }
}
