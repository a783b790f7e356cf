using System.Globalization;
using Confluent.Kafka;

namespace DataflowProducer.Kafka.Tests.TestSupport;

/// <summary>Checks on messages read back from a topic whose values are <c>v{post index}</c>.</summary>
internal static class ReadBack
{
    public static int IndexOf(string value) => int.Parse(value.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture);

    /// <summary>Every post index from 0 to <paramref name="expected"/> - 1 exactly once, and within each partition the
    /// indexes rise with the offsets (so for each key, which maps to one partition, values appear in posting order).</summary>
    /// <summary>Every post index from 0 to <paramref name="expected"/> - 1 at least once and nothing else: no loss.
    /// Returns the number of duplicates, for the report.</summary>
    public static int AssertAtLeastOnce(IReadOnlyList<ConsumeResult<string, string>> read, int expected)
    {
        var indexes = read.Select(r => IndexOf(r.Message.Value)).ToList();
        var missing = Enumerable.Range(0, expected).Except(indexes).Take(10).ToList();
        var unexpected = indexes.Where(i => i < 0 || i >= expected).Take(10).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(missing, Is.Empty, "missing post indexes (first 10): lost messages");
            Assert.That(unexpected, Is.Empty, "post indexes that were never posted");
        });
        return indexes.Count - indexes.Distinct().Count();
    }

    public static void AssertExactlyOnceInPostOrder(IReadOnlyList<ConsumeResult<string, string>> read, int expected)
    {
        var indexes = read.Select(r => IndexOf(r.Message.Value)).ToList();
        var duplicates = indexes.GroupBy(i => i).Where(g => g.Count() > 1).Select(g => g.Key).Take(10).ToList();
        var missing = Enumerable.Range(0, expected).Except(indexes).Take(10).ToList();
        var unexpected = indexes.Where(i => i < 0 || i >= expected).Take(10).ToList();
        var outOfOrder = read
            .GroupBy(r => r.Partition.Value)
            .Where(partition =>
            {
                var inOffsetOrder = partition.OrderBy(r => r.Offset.Value).Select(r => IndexOf(r.Message.Value)).ToList();
                return inOffsetOrder.Zip(inOffsetOrder.Skip(1)).Any(pair => pair.First >= pair.Second);
            })
            .Select(partition => partition.Key)
            .ToList();
        var keysOnSeveralPartitions = read
            .GroupBy(r => r.Message.Key)
            .Where(key => key.Select(r => r.Partition.Value).Distinct().Count() > 1)
            .Select(key => key.Key)
            .ToList();

        Assert.Multiple(() =>
        {
            Assert.That(read, Has.Count.EqualTo(expected), "messages read back");
            Assert.That(duplicates, Is.Empty, "duplicated post indexes (first 10)");
            Assert.That(missing, Is.Empty, "missing post indexes (first 10)");
            Assert.That(unexpected, Is.Empty, "post indexes that were never posted");
            Assert.That(outOfOrder, Is.Empty, "partitions whose messages are not in posting order");
            Assert.That(keysOnSeveralPartitions, Is.Empty, "keys spread over several partitions");
        });
    }
}
