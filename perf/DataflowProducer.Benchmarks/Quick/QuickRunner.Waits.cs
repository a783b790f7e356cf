using System.Diagnostics;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Benchmarks.Contenders;
using DataflowProducer.Kafka;
using DataflowProducer.Kafka.Tests.RealBroker;

namespace DataflowProducer.Benchmarks.Quick;

// Where the pipeline waits, on the broker in another process: the pipeline over a ProbedSink around the Kafka sink,
// for the default in-flight window and larger ones, alternating, medians. The produce stage's time splits into handing
// batches to the client, waiting for an acknowledgement (the window full), and waiting for the next batch (the window
// had room: the posters or the batch block were behind); the posters' time waiting for room and the sink's queue-full
// waits (the client's queue) complete the picture.
public static partial class QuickRunner
{
    private static readonly int[] WaitWindows = [8, 16, 32, 64];

    /// <summary><c>-- quick-waits [--messages N] [--rounds N]</c>: only the breakdown of where the pipeline waits.</summary>
    public static async Task<int> RunWaitsOnlyAsync(QuickOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        PrintEnvironment();
        await using RealKafkaBroker broker = await RealKafkaBroker.StartAsync(static line => Console.WriteLine($"  [kafka] {line}")).ConfigureAwait(false);
        await RunWaitBreakdownAsync(broker, options, WaitWindows).ConfigureAwait(false);
        Console.WriteLine(string.Create(Invariant, $"# load average now {LoadAverage()}"));
        return 0;
    }

    private static async Task RunWaitBreakdownAsync(RealKafkaBroker broker, QuickOptions options, IReadOnlyList<int> windows)
    {
        int messages = options.Messages;
        KafkaRecord<Null, byte[]>[] records = KafkaSettings.CreateRecords(messages);
        var rows = windows.Select(w => (Window: w, Runs: new List<WaitRun>())).ToArray();
        Console.WriteLine($"# where the pipeline waits: {messages:N0} messages, in-flight windows {string.Join(", ", windows)} batches (the default is {new BatchProducerOptions().MaxInFlightBatches}), {options.Rounds} rounds after a warm-up");
        for (int round = 0; round <= options.Rounds; round++)
        {
            foreach (var (window, runs) in Rotated(rows, round))
            {
                string topic = KafkaSettings.NewTopic("waits");
                using IProducer<Null, byte[]> producer = BuildBrokerProducer(broker, topic);
                FullCollect();
                WaitRun run = await ProbedPipelineAsync(producer, topic, records, window).ConfigureAwait(false);
                if (round > 0)
                {
                    runs.Add(run);
                }
            }
        }

        Console.WriteLine("| in-flight window (batches) | msg/s | handing over (s) | waiting for an acknowledgement (s) | waiting for a batch (s) | posters waiting for room (s) | client queue-full waits | acknowledgement p50 / p90 (ms) |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (window, runs) in rows)
        {
            double M(Func<WaitRun, double> f) => Measurements.Median(runs.Select(f).ToArray());
            Console.WriteLine(string.Create(Invariant, $"| {window} | {M(r => messages / r.Wall.TotalSeconds):N0} | {M(r => r.HandingOver.TotalSeconds):F2} | {M(r => r.WaitingForWindow.TotalSeconds):F2} | {M(r => r.WaitingForBatch.TotalSeconds):F2} | {M(r => r.PosterWaiting.TotalSeconds):F2} | {M(r => r.QueueFullWaits):N0} | {M(r => r.AckP50):F1} / {M(r => r.AckP90):F1} |"));
        }
    }

    private static async Task<WaitRun> ProbedPipelineAsync(IProducer<Null, byte[]> producer, string topic, KafkaRecord<Null, byte[]>[] records, int window)
    {
        var queueFull = new QueueFullCounter();
        var sink = new KafkaBatchSink<Null, byte[]>(producer, new KafkaSinkOptions<Null, byte[]> { DefaultTopic = topic }, queueFull);
        var probe = new ProbedSink<KafkaRecord<Null, byte[]>>(sink, window);
        var block = new BatchProducerBlock<KafkaRecord<Null, byte[]>>(probe, new BatchProducerOptions { MaxInFlightBatches = window });
        TimeSpan posterWaiting = TimeSpan.Zero;
        var watch = Stopwatch.StartNew();
        foreach (KafkaRecord<Null, byte[]> record in records)
        {
            if (!block.Post(record))
            {
                long waitStart = Stopwatch.GetTimestamp();
                if (!await block.SendAsync(record).ConfigureAwait(false))
                {
                    throw new InvalidOperationException("The probed pipeline declined a message permanently.");
                }

                posterWaiting += Stopwatch.GetElapsedTime(waitStart);
            }
        }

        block.Complete();
        await block.Completion.WaitAsync(KafkaContenders.StuckAfter).ConfigureAwait(false);
        TimeSpan wall = watch.Elapsed;
        if (block.GetStatistics().Delivered != records.Length)
        {
            throw new InvalidOperationException($"The probed pipeline delivered {block.GetStatistics().Delivered} of {records.Length}.");
        }

        Progress(string.Create(Invariant, $"window {window}: {records.Length / wall.TotalSeconds:N0} msg/s; handing over {probe.HandingOver.TotalSeconds:F2} s, waiting for an acknowledgement {probe.WaitingForWindow.TotalSeconds:F2} s, for a batch {probe.WaitingForBatch.TotalSeconds:F2} s; posters waited {posterWaiting.TotalSeconds:F2} s; queue-full waits {queueFull.Waits}"));
        return new WaitRun(wall, probe.HandingOver, probe.WaitingForWindow, probe.WaitingForBatch, posterWaiting, queueFull.Waits, probe.AckMilliseconds(0.5), probe.AckMilliseconds(0.9));
    }

    private sealed record WaitRun(TimeSpan Wall, TimeSpan HandingOver, TimeSpan WaitingForWindow, TimeSpan WaitingForBatch, TimeSpan PosterWaiting, long QueueFullWaits, double AckP50, double AckP90);
}
