using System.Globalization;
using System.Text;
using Confluent.Kafka;

namespace DataflowProducer.Cli.Tests.Copy;

/// <summary>The copy tests' source topic: keyed records whose values carry a per-key sequence number
/// (<c>k007:42</c>), and the check of a destination topic against it.</summary>
internal static class KeyedTopic
{
    /// <summary>A fixed base for the records' timestamps, so a copied timestamp is recognisable.</summary>
    public static readonly DateTime TimestampBase = new(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc);

    public static string Key(int key) => string.Create(CultureInfo.InvariantCulture, $"k{key:D3}");

    /// <summary>Produces <paramref name="count"/> records round-robin over <paramref name="keys"/> keys, continuing
    /// each key's sequence from <paramref name="first"/> (the index of the first record); with
    /// <paramref name="headersAndTimestamps"/>, each record gets a header and its own timestamp (not on a 0.9 broker).</summary>
    public static void Produce(ClientConfig clientConfig, string topic, int count, int keys, bool headersAndTimestamps, int first = 0)
    {
        var config = new ProducerConfig(clientConfig.ToDictionary(p => p.Key, p => p.Value)) { LingerMs = 5, Acks = Acks.All };
        using IProducer<string, string> producer = new ProducerBuilder<string, string>(config).SetLogHandler((_, _) => { }).Build();
        long failed = 0;
        for (int i = first; i < first + count; i++)
        {
            var message = new Message<string, string> { Key = Key(i % keys), Value = Value(i % keys, i / keys) };
            if (headersAndTimestamps)
            {
                message.Headers = [new Header("n", Encoding.UTF8.GetBytes(i.ToString(CultureInfo.InvariantCulture)))];
                message.Timestamp = new Timestamp(TimestampBase.AddMilliseconds(i));
            }

            while (true)
            {
                try
                {
                    producer.Produce(topic, message, report =>
                    {
                        if (report.Error.IsError)
                        {
                            Interlocked.Increment(ref failed);
                        }
                    });
                    break;
                }
                catch (ProduceException<string, string> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                {
                    producer.Poll(TimeSpan.FromMilliseconds(50));
                }
            }
        }

        int left = producer.Flush(TimeSpan.FromSeconds(60));
        Assert.That((left, Interlocked.Read(ref failed)), Is.EqualTo((0, 0L)), "the source topic could not be written");
    }

    public static string Value(int key, int sequence) => string.Create(CultureInfo.InvariantCulture, $"{Key(key)}:{sequence}");

    /// <summary>Checks a destination read back (ordered by partition, then offset) against the source's records.</summary>
    public static CopyCheck Check(IReadOnlyList<ConsumeResult<byte[]?, byte[]?>> read, int count, int keys)
    {
        var expected = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            expected.Add(Value(i % keys, i / keys));
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var lastByKey = new Dictionary<string, int>(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (ConsumeResult<byte[]?, byte[]?> record in read)
        {
            string key = Encoding.UTF8.GetString(record.Message.Key ?? []);
            string value = Encoding.UTF8.GetString(record.Message.Value ?? []);
            int colon = value.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0 || value[..colon] != key || !expected.Contains(value))
            {
                problems.Add($"unexpected record key={key} value={value} at {record.TopicPartitionOffset}");
                continue;
            }

            if (!seen.Add(value))
            {
                // A duplicate: a re-sent record, ignored for the order (the first occurrence counts).
                continue;
            }

            int sequence = int.Parse(value[(colon + 1)..], CultureInfo.InvariantCulture);
            if (lastByKey.TryGetValue(key, out int last) && sequence <= last && problems.Count < 20)
            {
                problems.Add($"order of key {key}: {sequence} after {last} at {record.TopicPartitionOffset}");
            }

            lastByKey[key] = Math.Max(sequence, lastByKey.GetValueOrDefault(key, -1));
        }

        int lost = expected.Count(v => !seen.Contains(v));
        return new CopyCheck(read.Count, seen.Count, lost, read.Count - seen.Count - problems.Count(p => p.StartsWith("unexpected", StringComparison.Ordinal)), problems);
    }
}

/// <summary>What a destination topic holds, against the source.</summary>
/// <param name="Total">Records read back.</param>
/// <param name="Distinct">Distinct source records among them.</param>
/// <param name="Lost">Source records missing.</param>
/// <param name="Duplicates">Records that repeat an earlier one.</param>
/// <param name="Problems">Order violations (after removing duplicates) and records that are no source record.</param>
internal sealed record CopyCheck(int Total, int Distinct, int Lost, int Duplicates, IReadOnlyList<string> Problems)
{
    public override string ToString() => $"total={Total} distinct={Distinct} lost={Lost} duplicates={Duplicates} problems={Problems.Count}{(Problems.Count > 0 ? ": " + string.Join("; ", Problems.Take(5)) : string.Empty)}";
}
