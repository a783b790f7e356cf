using System.Diagnostics;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Kafka.Tests.TestSupport;

namespace DataflowProducer.Kafka.Tests.Reliability;

/// <summary>Five million 100-byte messages through KafkaProducerBlock.Create into the mock cluster, with the managed
/// heap and the working set sampled every 500 ms. The peak and the growth rate (least squares over the second half of
/// the run) are printed; the assertions are not timed: the managed heap stays under a generous bound, and every
/// accepted message is delivered and written.</summary>
[Category("Soak")]
public class SoakTests
{
    private const int Messages = 5_000_000;
    private const int Posters = 2;
    private const int ValueSize = 100;
    private const long HeapBound = 1L << 30;
    private static readonly TimeSpan SampleInterval = TimeSpan.FromMilliseconds(500);

    [Test, CancelAfter(300_000)]
    public async Task Create_5MillionMessages_HeapStaysBoundedAndEveryMessageIsWritten(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        string topic = $"soak-{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, partitions: 8);
        var outcomes = new Outcomes<KafkaRecord<Null, byte[]>>();
        var block = KafkaProducerBlock.Create(
            new ProducerConfig { BootstrapServers = cluster.BootstrapServers, LingerMs = 5 },
            new KafkaSinkOptions<Null, byte[]> { DefaultTopic = topic },
            new BatchProducerOptions { BatchSize = 1000, Linger = TimeSpan.FromMilliseconds(20) },
            outcomes.Callbacks);
        var value = new byte[ValueSize];
        Random.Shared.NextBytes(value);

        var samples = new List<(double Seconds, long Heap, long WorkingSet)>();
        var stopwatch = Stopwatch.StartNew();
        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Task sampler = Task.Run(
            async () =>
            {
                using var timer = new PeriodicTimer(SampleInterval);
                using var process = Process.GetCurrentProcess();
                do
                {
                    process.Refresh();
                    lock (samples)
                    {
                        samples.Add((stopwatch.Elapsed.TotalSeconds, GC.GetTotalMemory(forceFullCollection: false), process.WorkingSet64));
                    }
                }
                while (await timer.WaitForNextTickAsync(sampling.Token).ConfigureAwait(false));
            },
            CancellationToken.None);

        long accepted = 0;
        var posters = Enumerable.Range(0, Posters).Select(_ => Task.Run(
            async () =>
            {
                for (int i = 0; i < Messages / Posters; i++)
                {
                    if (await block.SendAsync(new KafkaRecord<Null, byte[]> { Value = value }, ct))
                    {
                        Interlocked.Increment(ref accepted);
                    }
                }
            },
            ct)).ToArray();
        await Task.WhenAll(posters);
        block.Complete();
        await block.Completion.WaitAsync(ct);
        double seconds = stopwatch.Elapsed.TotalSeconds;
        await sampling.CancelAsync();
        await Records.ExceptionOf(sampler);

        long written = TopicReader.SumHighWatermarks(cluster.BootstrapServers, topic, TimeSpan.FromSeconds(30));
        BatchProducerStatistics s = block.GetStatistics();
        long peakHeap = samples.Max(x => x.Heap);
        long peakWorkingSet = samples.Max(x => x.WorkingSet);
        var secondHalf = samples.Skip(samples.Count / 2).ToList();
        const double MB = 1024 * 1024;
        TestContext.Out.WriteLine($"{Messages:N0} messages of {ValueSize} bytes in {seconds:F1} s ({Messages / seconds:N0} msg/s), {samples.Count} samples");
        TestContext.Out.WriteLine($"managed heap: peak {peakHeap / MB:F1} MB, slope over the second half {Slope(secondHalf, x => x.Heap) / MB:F2} MB/s");
        TestContext.Out.WriteLine($"working set:  peak {peakWorkingSet / MB:F1} MB, slope over the second half {Slope(secondHalf, x => x.WorkingSet) / MB:F2} MB/s");
        ScenarioReport.Print(TestContext.Out, "Soak 5M x 100 B", Messages, s, written, written);
        Assert.Multiple(() =>
        {
            Assert.That(samples, Has.Count.GreaterThanOrEqualTo(4), "too few samples to say anything about growth");
            Assert.That(peakHeap, Is.LessThan(HeapBound), "peak managed heap");
            Assert.That(accepted, Is.EqualTo(Messages));
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(Messages, s.Batches, Messages, 0, 0, 0)));
            Assert.That(written, Is.EqualTo(Messages), "sum of high watermarks");
            Assert.That(outcomes.Failed, Is.Empty);
            Assert.That(outcomes.Abandoned, Is.Empty);
        });
    }

    // Least-squares slope of value over time, in units per second.
    private static double Slope(List<(double Seconds, long Heap, long WorkingSet)> points, Func<(double Seconds, long Heap, long WorkingSet), long> value)
    {
        if (points.Count < 2)
        {
            return 0;
        }

        double meanX = points.Average(p => p.Seconds);
        double meanY = points.Average(p => (double)value(p));
        double covariance = points.Sum(p => (p.Seconds - meanX) * (value(p) - meanY));
        double variance = points.Sum(p => (p.Seconds - meanX) * (p.Seconds - meanX));
        return variance == 0 ? 0 : covariance / variance;
    }
}
