using Confluent.Kafka;

namespace DataflowProducer.Benchmarks.Contenders;

/// <summary>The one librdkafka configuration every Kafka contender uses, so only the code around the client differs.</summary>
public static class KafkaSettings
{
    /// <summary>The size of every message value, in bytes.</summary>
    public const int ValueSize = 100;

    /// <summary>The number of partitions of every benchmark topic.</summary>
    public const int Partitions = 4;

    public static ProducerConfig Producer(string bootstrapServers) => new()
    {
        BootstrapServers = bootstrapServers,
        ClientId = "dataflowproducer-benchmarks",
        Acks = Acks.All,
        EnableIdempotence = true,
        LingerMs = 5,
        QueueBufferingMaxMessages = 100_000,
        QueueBufferingMaxKbytes = 1_048_576,
        BatchNumMessages = 10_000,
    };

    /// <summary>Builds a producer and waits until it has connected and knows <paramref name="topic"/>, so no
    /// contender's time includes connecting or the first metadata request.</summary>
    public static IProducer<Null, byte[]> BuildConnectedProducer(string bootstrapServers, string topic)
    {
        IProducer<Null, byte[]> producer = new ProducerBuilder<Null, byte[]>(Producer(bootstrapServers))
            .SetLogHandler(static (_, _) => { })
            .Build();
        try
        {
            using IAdminClient admin = new DependentAdminClientBuilder(producer.Handle).Build();
            admin.GetMetadata(topic, TimeSpan.FromSeconds(30));
            return producer;
        }
        catch
        {
            producer.Dispose();
            throw;
        }
    }

    /// <summary>Creates the messages up front (they are the caller's objects, not part of any contender's cost).
    /// The record type is the pipeline's; raw Confluent calls take it as the <see cref="Message{TKey, TValue}"/> it is.</summary>
    public static KafkaRecord<Null, byte[]>[] CreateRecords(int count)
    {
        var records = new KafkaRecord<Null, byte[]>[count];
        for (int i = 0; i < count; i++)
        {
            byte[] value = new byte[ValueSize];
            BitConverter.TryWriteBytes(value, i);
            records[i] = new KafkaRecord<Null, byte[]> { Value = value };
        }

        return records;
    }

    public static string NewTopic(string prefix) => $"bench-{prefix}-{Guid.NewGuid():N}";
}
