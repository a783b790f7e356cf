using System.Diagnostics;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Benchmarks.Contenders;
using DataflowProducer.Kafka.Testing;

namespace DataflowProducer.Benchmarks.Quick;

public static partial class QuickRunner
{
    private const int MemoryCapacity = 10_000;
    private const int MemoryPosts = 1_000_000;

    /// <summary>BatchProducerBlock over the allocation-free sink: bytes allocated on every thread while N
    /// pre-allocated items are posted and the block completes, divided by N (median of 3 after 2 warm-ups).</summary>
    private static async Task<double> MeasureAllocationAsync(int count)
    {
        object[] items = new object[count];
        for (int i = 0; i < items.Length; i++)
        {
            items[i] = new object();
        }

        Console.WriteLine($"# allocation: BatchProducerBlock<object> (default options) over an allocation-free sink, {count:N0} pre-allocated items, GC.GetTotalAllocatedBytes(precise) delta");
        var perMessage = new List<double>();
        for (int run = 0; run < 5; run++)
        {
            FullCollect();
            long before = GC.GetTotalAllocatedBytes(precise: true);
            var sink = new CompletedBatchSink<object>();
            var block = new BatchProducerBlock<object>(sink, new BatchProducerOptions());
            int waited = 0;
            foreach (object item in items)
            {
                if (!block.Post(item))
                {
                    waited++;
                    if (!await block.SendAsync(item).ConfigureAwait(false))
                    {
                        throw new InvalidOperationException("The pipeline declined an item permanently.");
                    }
                }
            }

            block.Complete();
            await block.Completion.ConfigureAwait(false);
            long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
            if (sink.Items != count)
            {
                throw new InvalidOperationException($"allocation: the sink got {sink.Items} of {count} items.");
            }

            double bytes = allocated / (double)count;
            if (run >= 2)
            {
                perMessage.Add(bytes);
            }

            Progress($"{(run < 2 ? "warm-up" : $"run {run - 1}")}: {allocated:N0} bytes, {bytes:F1} bytes/message ({waited:N0} posts declined and sent with SendAsync)");
        }

        GC.KeepAlive(items);
        return Measurements.Median(perMessage);
    }

    /// <summary>All brokers down, BoundedCapacity 10,000: a task posts up to 1,000,000 new messages with SendAsync
    /// while the managed heap is sampled every 100 ms for 5 s; then the pipeline is faulted and the poster must end.</summary>
    private static async Task<MemoryResult> CheckMemoryBoundedAsync()
    {
        Console.WriteLine($"# memory: all brokers down, BoundedCapacity {MemoryCapacity:N0}, a task posting up to {MemoryPosts:N0} new 100-byte messages with SendAsync");
        using MockKafkaCluster cluster = MockKafkaCluster.Start(3);
        string topic = KafkaSettings.NewTopic("memory");
        cluster.CreateTopic(topic, KafkaSettings.Partitions);
        BatchProducerBlock<KafkaRecord<Null, byte[]>> block = KafkaProducerBlock.Create(
            KafkaSettings.Producer(cluster.BootstrapServers),
            new KafkaSinkOptions<Null, byte[]> { DefaultTopic = topic },
            new BatchProducerOptions { BoundedCapacity = MemoryCapacity, DrainTimeout = TimeSpan.FromSeconds(5) });
        cluster.SetAllBrokersDown();

        FullCollect();
        double baselineMb = GC.GetTotalMemory(forceFullCollection: true) / 1048576.0;
        long posted = 0;
        Task poster = Task.Run(async () =>
        {
            for (int i = 0; i < MemoryPosts; i++)
            {
                // New objects per message, as a service reading input would make them: if the pipeline buffered
                // them instead of making the poster wait, the heap would grow by about 200 MB.
                var record = new KafkaRecord<Null, byte[]> { Value = new byte[KafkaSettings.ValueSize] };
                if (!await block.SendAsync(record).ConfigureAwait(false))
                {
                    return;
                }

                Interlocked.Increment(ref posted);
            }
        });

        double peakMb = 0;
        double peakHeapSizeMb = 0;
        double firstSecondMb = 0;
        var clock = Stopwatch.StartNew();
        for (int sample = 1; sample <= 50; sample++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100 * sample) - clock.Elapsed).ConfigureAwait(false);
            double managedMb = GC.GetTotalMemory(forceFullCollection: false) / 1048576.0;
            double heapSizeMb = GC.GetGCMemoryInfo().HeapSizeBytes / 1048576.0;
            peakMb = Math.Max(peakMb, managedMb);
            peakHeapSizeMb = Math.Max(peakHeapSizeMb, heapSizeMb);
            if (sample == 10)
            {
                firstSecondMb = peakMb;
            }

            if (sample % 10 == 0)
            {
                Progress($"t = {sample / 10.0:F1} s: managed heap {managedMb:F1} MB (GC heap size {heapSizeMb:F1} MB), posted {Interlocked.Read(ref posted):N0}, accepted {block.GetStatistics().Accepted:N0}");
            }
        }

        long postedWhileDown = Interlocked.Read(ref posted);
        ((IDataflowBlock)block).Fault(new OperationCanceledException("memory check over"));
        bool posterEnded = await Task.WhenAny(poster, Task.Delay(TimeSpan.FromSeconds(10))).ConfigureAwait(false) == poster;
        string outcome;
        try
        {
            await block.Completion.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            outcome = "completed";
        }
        catch (Exception ex)
        {
            outcome = ex.GetType().Name;
        }

        BatchProducerStatistics s = block.GetStatistics();
        Progress($"after Fault: poster ended = {posterEnded}, Completion = {outcome}; accepted {s.Accepted:N0}, delivered {s.Delivered:N0}, abandoned {s.Abandoned:N0}");
        bool held = postedWhileDown <= MemoryCapacity + 1000 && posterEnded && s.Accepted == s.Delivered + s.Failed + s.Abandoned;
        bool flat = peakMb - baselineMb < 32 && peakMb - firstSecondMb < 8;
        Progress($"baseline {baselineMb:F1} MB, peak {peakMb:F1} MB (GC heap size peak {peakHeapSizeMb:F1} MB), growth after the first second {peakMb - firstSecondMb:F1} MB; posted while brokers down {postedWhileDown:N0} of {MemoryPosts:N0}");
        return new MemoryResult(peakMb, held && flat);
    }

    private sealed record MemoryResult(double PeakMegabytes, bool Bounded);
}
