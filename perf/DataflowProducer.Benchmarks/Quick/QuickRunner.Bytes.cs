using System.Diagnostics;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Benchmarks.Contenders;
using DataflowProducer.Kafka.Testing;

namespace DataflowProducer.Benchmarks.Quick;

public static partial class QuickRunner
{
    private const int BytesValueSize = 1 << 20;
    private const long BytesBound = 64L << 20;
    private const int BytesContrastCapacity = 200;

    /// <summary><c>quick-bytes</c>: all brokers down, 1 MB values, a poster sending new records with SendAsync while the
    /// managed heap is sampled every 100 ms for 5 s. Once with BoundedBytes 64 MB (the heap must stay under 1.5 times
    /// the bound), once with only BoundedCapacity 200 for contrast.</summary>
    /// <returns>0 when the bytes bound held the heap, else 1.</returns>
    public static async Task<int> RunBytesAsync()
    {
        Console.WriteLine($"# bytes: all brokers down, {BytesValueSize:N0}-byte values, a task posting new records with SendAsync, managed heap sampled for 5 s");
        double boundedMb = await PeakHeapAsync(boundedBytes: BytesBound, boundedCapacity: 100_000).ConfigureAwait(false);
        double contrastMb = await PeakHeapAsync(boundedBytes: -1, boundedCapacity: BytesContrastCapacity).ConfigureAwait(false);
        double boundMb = BytesBound / 1048576.0;
        double ratio = boundedMb / boundMb;
        Console.WriteLine(string.Create(Invariant, $"MEMORY peak-managed-heap-mb {boundedMb:F1} (BoundedBytes {boundMb:F0} MB; the first run, from a baseline near 0)"));
        Console.WriteLine(string.Create(Invariant, $"RATIO peak/bound {ratio:F2} (target < 1.5)"));
        Console.WriteLine(string.Create(Invariant, $"MEMORY growth-managed-heap-mb-without-bytes-bound {contrastMb:F1} (BoundedCapacity {BytesContrastCapacity}, no bytes bound)"));
        return ratio < 1.5 ? 0 : 1;
    }

    // The peak managed heap of one run, less its baseline.
    private static async Task<double> PeakHeapAsync(long boundedBytes, int boundedCapacity)
    {
        Progress(boundedBytes == -1 ? $"BoundedCapacity {boundedCapacity}, no bytes bound:" : $"BoundedBytes {boundedBytes:N0}, BoundedCapacity {boundedCapacity:N0}:");
        using MockKafkaCluster cluster = MockKafkaCluster.Start(3);
        string topic = KafkaSettings.NewTopic("bytes");
        cluster.CreateTopic(topic, KafkaSettings.Partitions);
        ProducerConfig config = KafkaSettings.Producer(cluster.BootstrapServers);
        config.MessageMaxBytes = 4 * BytesValueSize; // a 1 MB value is over librdkafka's default limit of 1,000,000
        BatchProducerBlock<KafkaRecord<Null, byte[]>> block = KafkaProducerBlock.Create(
            config,
            new KafkaSinkOptions<Null, byte[]> { DefaultTopic = topic },
            new BatchProducerOptions { BatchSize = 100, BoundedCapacity = boundedCapacity, BoundedBytes = boundedBytes, DrainTimeout = TimeSpan.FromSeconds(5) });
        cluster.SetAllBrokersDown();

        FullCollect();
        double baselineMb = GC.GetTotalMemory(forceFullCollection: true) / 1048576.0;
        long posted = 0;
        Task poster = Task.Run(async () =>
        {
            while (true)
            {
                var record = new KafkaRecord<Null, byte[]> { Value = new byte[BytesValueSize] };
                if (!await block.SendAsync(record).ConfigureAwait(false))
                {
                    return;
                }

                Interlocked.Increment(ref posted);
            }
        });

        double peakMb = 0;
        var clock = Stopwatch.StartNew();
        for (int sample = 1; sample <= 50; sample++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100 * sample) - clock.Elapsed).ConfigureAwait(false);
            double managedMb = GC.GetTotalMemory(forceFullCollection: false) / 1048576.0;
            peakMb = Math.Max(peakMb, managedMb);
            if (sample % 10 == 0)
            {
                BatchProducerStatistics now = block.GetStatistics();
                Progress($"t = {sample / 10.0:F1} s: managed heap {managedMb:F1} MB, posted {Interlocked.Read(ref posted):N0}, bytes held {now.BytesHeld / 1048576.0:F1} MB, failed {now.Failed:N0}");
            }
        }

        ((IDataflowBlock)block).Fault(new OperationCanceledException("bytes check over"));
        bool posterEnded = await Task.WhenAny(poster, Task.Delay(TimeSpan.FromSeconds(10))).ConfigureAwait(false) == poster;
        try
        {
            await block.Completion.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Faulted on purpose: the records held are abandoned.
        }

        BatchProducerStatistics s = block.GetStatistics();
        Progress($"baseline {baselineMb:F1} MB, peak {peakMb:F1} MB; poster ended = {posterEnded}; accepted {s.Accepted:N0}, failed {s.Failed:N0}, abandoned {s.Abandoned:N0}");
        // Growth over the baseline: what the run held (the contrast runs second, after the first run's records).
        return peakMb - baselineMb;
    }
}
