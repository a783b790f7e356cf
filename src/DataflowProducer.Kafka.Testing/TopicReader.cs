using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;

namespace DataflowProducer.Kafka.Testing;

/// <summary>
/// Reads back what a test wrote to a topic: every message present when the read starts, or just how many.
/// </summary>
/// <remarks>
/// <para>
/// Reading assigns every partition directly (no consumer group, no rebalance, nothing committed) and reads
/// each from its beginning up to the high watermark captured when the read starts; messages produced after
/// that are not returned. The topic must exist: these helpers never create it.
/// </para>
/// <para>
/// Reading materializes every message, which is slow for large topics; for large counts use
/// <see cref="CountMessages(string, string)"/>, which only queries watermarks.
/// </para>
/// </remarks>
public static class TopicReader
{
    /// <summary>The timeout of <see cref="CountMessages(string, string)"/>: 30 seconds.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Reads every message of <paramref name="topic"/>, keys and values as raw bytes.</summary>
    /// <param name="bootstrapServers">The cluster's <c>bootstrap.servers</c>.</param>
    /// <param name="topic">The topic to read.</param>
    /// <param name="timeout">How long the whole read may take.</param>
    /// <returns>The messages ordered by partition, then offset. Null keys and values stay <see langword="null"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="bootstrapServers"/> or <paramref name="topic"/> is empty or white space.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="bootstrapServers"/> or <paramref name="topic"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is not positive.</exception>
    /// <exception cref="KafkaException">The topic does not exist, or a request failed.</exception>
    /// <exception cref="TimeoutException">Not every message was read within <paramref name="timeout"/>.</exception>
    public static IReadOnlyList<ConsumeResult<byte[]?, byte[]?>> ReadAll(string bootstrapServers, string topic, TimeSpan timeout) =>
        ReadAll<byte[]?, byte[]?>(bootstrapServers, topic, Deserializers.ByteArray, Deserializers.ByteArray, timeout);

    /// <summary>Reads every message of <paramref name="topic"/>, deserializing keys and values.</summary>
    /// <typeparam name="TKey">The key type.</typeparam>
    /// <typeparam name="TValue">The value type.</typeparam>
    /// <param name="bootstrapServers">The cluster's <c>bootstrap.servers</c>.</param>
    /// <param name="topic">The topic to read.</param>
    /// <param name="keyDeserializer">Deserializes keys, e.g. <see cref="Deserializers.Utf8"/>.</param>
    /// <param name="valueDeserializer">Deserializes values.</param>
    /// <param name="timeout">How long the whole read may take.</param>
    /// <returns>The messages ordered by partition, then offset.</returns>
    /// <exception cref="ArgumentException"><paramref name="bootstrapServers"/> or <paramref name="topic"/> is empty or white space.</exception>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is not positive.</exception>
    /// <exception cref="ConsumeException">A message could not be deserialized.</exception>
    /// <exception cref="KafkaException">The topic does not exist, or a request failed.</exception>
    /// <exception cref="TimeoutException">Not every message was read within <paramref name="timeout"/>.</exception>
    public static IReadOnlyList<ConsumeResult<TKey, TValue>> ReadAll<TKey, TValue>(
        string bootstrapServers,
        string topic,
        IDeserializer<TKey> keyDeserializer,
        IDeserializer<TValue> valueDeserializer,
        TimeSpan timeout)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(bootstrapServers);
        return ReadAll(new ClientConfig { BootstrapServers = bootstrapServers }, topic, keyDeserializer, valueDeserializer, timeout);
    }

    /// <summary>
    /// Reads every message of <paramref name="topic"/> with client settings of the caller's choosing (e.g.
    /// <c>api.version.request=false</c> for an old broker), deserializing keys and values.
    /// </summary>
    /// <typeparam name="TKey">The key type.</typeparam>
    /// <typeparam name="TValue">The value type.</typeparam>
    /// <param name="clientConfig">
    /// Settings for the reading client, including <c>bootstrap.servers</c>. They are copied; the reader then
    /// sets its own <c>group.id</c>, disables commits and topic auto-creation, and enables partition EOF events.
    /// </param>
    /// <param name="topic">The topic to read.</param>
    /// <param name="keyDeserializer">Deserializes keys.</param>
    /// <param name="valueDeserializer">Deserializes values.</param>
    /// <param name="timeout">How long the whole read may take.</param>
    /// <returns>The messages ordered by partition, then offset.</returns>
    /// <exception cref="ArgumentException"><paramref name="topic"/> is empty or white space.</exception>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is not positive.</exception>
    /// <exception cref="ConsumeException">A message could not be deserialized.</exception>
    /// <exception cref="KafkaException">The topic does not exist, or a request failed.</exception>
    /// <exception cref="TimeoutException">Not every message was read within <paramref name="timeout"/>.</exception>
    public static IReadOnlyList<ConsumeResult<TKey, TValue>> ReadAll<TKey, TValue>(
        ClientConfig clientConfig,
        string topic,
        IDeserializer<TKey> keyDeserializer,
        IDeserializer<TValue> valueDeserializer,
        TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(clientConfig);
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ArgumentNullException.ThrowIfNull(keyDeserializer);
        ArgumentNullException.ThrowIfNull(valueDeserializer);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);

        long start = Stopwatch.GetTimestamp();
        using IConsumer<TKey, TValue> consumer = new ConsumerBuilder<TKey, TValue>(CreateConsumerConfig(clientConfig))
            .SetKeyDeserializer(keyDeserializer)
            .SetValueDeserializer(valueDeserializer)
            .Build();

        // Partition -> high watermark captured now: the end of what this read returns.
        var ends = new Dictionary<int, long>();
        var assignment = new List<TopicPartitionOffset>();
        foreach ((TopicPartition partition, WatermarkOffsets watermarks) in QueryWatermarks(consumer, topic, start, timeout))
        {
            if (watermarks.High > watermarks.Low)
            {
                ends[partition.Partition.Value] = watermarks.High.Value;
                assignment.Add(new TopicPartitionOffset(partition, Offset.Beginning));
            }
        }

        var messages = new List<ConsumeResult<TKey, TValue>>();
        if (assignment.Count == 0)
        {
            return messages;
        }

        // Partition -> next offset to read; a partition is done once it reaches its end. The next offset
        // comes from the messages and from EOF events, because offsets are not all messages: transaction
        // markers take offsets too, so the last message of a partition may sit below high watermark - 1.
        var positions = new Dictionary<int, long>();
        consumer.Assign(assignment);
        while (positions.Count(p => p.Value >= ends[p.Key]) < ends.Count)
        {
            TimeSpan remaining = timeout - Stopwatch.GetElapsedTime(start);
            if (remaining <= TimeSpan.Zero)
            {
                throw new TimeoutException(DescribeTimeout(topic, timeout, ends, positions, messages.Count));
            }

            ConsumeResult<TKey, TValue>? result = consumer.Consume(remaining);
            if (result is null)
            {
                continue;
            }

            int partition = result.Partition.Value;
            long end = ends[partition];
            if (result.IsPartitionEOF)
            {
                positions[partition] = Math.Max(positions.GetValueOrDefault(partition), result.Offset.Value);
                continue;
            }

            if (result.Offset.Value < end)
            {
                messages.Add(result);
            }

            positions[partition] = Math.Max(positions.GetValueOrDefault(partition), result.Offset.Value + 1);
        }

        consumer.Close();

        messages.Sort(static (left, right) =>
        {
            int byPartition = left.Partition.Value.CompareTo(right.Partition.Value);
            return byPartition != 0 ? byPartition : left.Offset.Value.CompareTo(right.Offset.Value);
        });
        return messages;
    }

    /// <summary>
    /// Counts the messages in <paramref name="topic"/> from its watermarks, without reading them, waiting up
    /// to <see cref="DefaultTimeout"/>.
    /// </summary>
    /// <param name="bootstrapServers">The cluster's <c>bootstrap.servers</c>.</param>
    /// <param name="topic">The topic.</param>
    /// <returns>The sum over partitions of high watermark minus low watermark.</returns>
    /// <remarks>
    /// The count includes offsets taken by transaction markers, so it exceeds the number of messages on
    /// topics written by transactional producers.
    /// </remarks>
    /// <exception cref="ArgumentException"><paramref name="bootstrapServers"/> or <paramref name="topic"/> is empty or white space.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="bootstrapServers"/> or <paramref name="topic"/> is <see langword="null"/>.</exception>
    /// <exception cref="KafkaException">The topic does not exist, or a request failed or timed out.</exception>
    public static long CountMessages(string bootstrapServers, string topic) =>
        CountMessages(bootstrapServers, topic, DefaultTimeout);

    /// <summary>Counts the messages in <paramref name="topic"/> from its watermarks, without reading them.</summary>
    /// <param name="bootstrapServers">The cluster's <c>bootstrap.servers</c>.</param>
    /// <param name="topic">The topic.</param>
    /// <param name="timeout">How long the whole count may take.</param>
    /// <returns>The sum over partitions of high watermark minus low watermark.</returns>
    /// <remarks>
    /// The count includes offsets taken by transaction markers, so it exceeds the number of messages on
    /// topics written by transactional producers.
    /// </remarks>
    /// <exception cref="ArgumentException"><paramref name="bootstrapServers"/> or <paramref name="topic"/> is empty or white space.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="bootstrapServers"/> or <paramref name="topic"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is not positive.</exception>
    /// <exception cref="KafkaException">The topic does not exist, or a request failed or timed out.</exception>
    public static long CountMessages(string bootstrapServers, string topic, TimeSpan timeout)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(bootstrapServers);
        return CountMessages(new ClientConfig { BootstrapServers = bootstrapServers }, topic, timeout);
    }

    /// <summary>
    /// Counts the messages in <paramref name="topic"/> from its watermarks, with client settings of the
    /// caller's choosing.
    /// </summary>
    /// <param name="clientConfig">Settings for the client, including <c>bootstrap.servers</c>; copied.</param>
    /// <param name="topic">The topic.</param>
    /// <param name="timeout">How long the whole count may take.</param>
    /// <returns>The sum over partitions of high watermark minus low watermark.</returns>
    /// <remarks>
    /// The count includes offsets taken by transaction markers, so it exceeds the number of messages on
    /// topics written by transactional producers.
    /// </remarks>
    /// <exception cref="ArgumentException"><paramref name="topic"/> is empty or white space.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="clientConfig"/> or <paramref name="topic"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is not positive.</exception>
    /// <exception cref="KafkaException">The topic does not exist, or a request failed or timed out.</exception>
    public static long CountMessages(ClientConfig clientConfig, string topic, TimeSpan timeout)
    {
        return SumOverPartitions(clientConfig, topic, timeout, static w => w.High.Value - w.Low.Value);
    }

    /// <summary>
    /// Sums the high watermarks of every partition of <paramref name="topic"/>: on a topic that was empty when
    /// created, the number of messages ever written to it, even those the broker has since dropped.
    /// </summary>
    /// <param name="bootstrapServers">The cluster's <c>bootstrap.servers</c>.</param>
    /// <param name="topic">The topic.</param>
    /// <param name="timeout">How long the whole query may take.</param>
    /// <returns>The sum over partitions of the high watermark.</returns>
    /// <remarks>
    /// Unlike <see cref="CountMessages(string, string, TimeSpan)"/> this ignores low watermarks, so it stays exact
    /// when retention removed old messages (librdkafka's mock cluster keeps only a few megabytes per partition).
    /// Offsets taken by transaction markers are counted too.
    /// </remarks>
    /// <exception cref="ArgumentException"><paramref name="bootstrapServers"/> or <paramref name="topic"/> is empty or white space.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="bootstrapServers"/> or <paramref name="topic"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is not positive.</exception>
    /// <exception cref="KafkaException">The topic does not exist, or a request failed or timed out.</exception>
    public static long SumHighWatermarks(string bootstrapServers, string topic, TimeSpan timeout)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(bootstrapServers);
        return SumHighWatermarks(new ClientConfig { BootstrapServers = bootstrapServers }, topic, timeout);
    }

    /// <summary>
    /// Sums the high watermarks of every partition of <paramref name="topic"/>, with client settings of the
    /// caller's choosing: on a topic that was empty when created, the number of messages ever written to it.
    /// </summary>
    /// <param name="clientConfig">Settings for the client, including <c>bootstrap.servers</c>; copied.</param>
    /// <param name="topic">The topic.</param>
    /// <param name="timeout">How long the whole query may take.</param>
    /// <returns>The sum over partitions of the high watermark.</returns>
    /// <remarks>See <see cref="SumHighWatermarks(string, string, TimeSpan)"/>.</remarks>
    /// <exception cref="ArgumentException"><paramref name="topic"/> is empty or white space.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="clientConfig"/> or <paramref name="topic"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is not positive.</exception>
    /// <exception cref="KafkaException">The topic does not exist, or a request failed or timed out.</exception>
    public static long SumHighWatermarks(ClientConfig clientConfig, string topic, TimeSpan timeout)
    {
        return SumOverPartitions(clientConfig, topic, timeout, static w => w.High.Value);
    }

    private static long SumOverPartitions(ClientConfig clientConfig, string topic, TimeSpan timeout, Func<WatermarkOffsets, long> measure)
    {
        ArgumentNullException.ThrowIfNull(clientConfig);
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);

        long start = Stopwatch.GetTimestamp();
        using IConsumer<Ignore, Ignore> consumer = new ConsumerBuilder<Ignore, Ignore>(CreateConsumerConfig(clientConfig)).Build();
        long sum = 0;
        foreach ((_, WatermarkOffsets watermarks) in QueryWatermarks(consumer, topic, start, timeout))
        {
            sum += measure(watermarks);
        }

        return sum;
    }

    private static ConsumerConfig CreateConsumerConfig(ClientConfig clientConfig) =>
        new(clientConfig.ToDictionary(setting => setting.Key, setting => setting.Value))
        {
            GroupId = "dataflowproducer-topic-reader-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            EnablePartitionEof = true,
            AllowAutoCreateTopics = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,

            // A partition's end is only known from an empty fetch, which the broker holds for up to this
            // long (default 500 ms); a short wait ends reads of quiet partitions sooner.
            FetchWaitMaxMs = 50,
        };

    /// <summary>The watermarks of every partition of <paramref name="topic"/>, in partition order.</summary>
    private static List<(TopicPartition Partition, WatermarkOffsets Watermarks)> QueryWatermarks<TKey, TValue>(
        IConsumer<TKey, TValue> consumer,
        string topic,
        long start,
        TimeSpan timeout)
    {
        // An admin client on the consumer's handle shares its connections and its settings, among them
        // allow.auto.create.topics=false, so asking for a missing topic does not create it.
        using IAdminClient admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        TopicMetadata metadata = admin.GetMetadata(topic, Remaining(start, timeout)).Topics.Single(t => t.Topic == topic);
        if (metadata.Error.IsError)
        {
            throw new KafkaException(new Error(
                metadata.Error.Code,
                $"Cannot read topic '{topic}': {metadata.Error.Reason} ({metadata.Error.Code})."));
        }

        var watermarks = new List<(TopicPartition, WatermarkOffsets)>();
        foreach (int partition in metadata.Partitions.Select(p => p.PartitionId).Order())
        {
            var topicPartition = new TopicPartition(topic, new Partition(partition));
            watermarks.Add((topicPartition, consumer.QueryWatermarkOffsets(topicPartition, Remaining(start, timeout))));
        }

        return watermarks;
    }

    private static TimeSpan Remaining(long start, TimeSpan timeout)
    {
        TimeSpan remaining = timeout - Stopwatch.GetElapsedTime(start);
        return remaining > TimeSpan.Zero ? remaining : TimeSpan.FromMilliseconds(1);
    }

    private static string DescribeTimeout(
        string topic,
        TimeSpan timeout,
        Dictionary<int, long> ends,
        Dictionary<int, long> positions,
        int read)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Read {read} messages of topic '{topic}' in {timeout}, but not all of them. Partitions (next offset / end):");
        foreach ((int partition, long end) in ends.OrderBy(p => p.Key))
        {
            text.Append(CultureInfo.InvariantCulture, $" {partition}: {positions.GetValueOrDefault(partition)}/{end};");
        }

        return text.ToString();
    }
}
