using System.Diagnostics;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Benchmarks.Contenders;
using DataflowProducer.Kafka.Tests.RealBroker;

namespace DataflowProducer.Benchmarks.Quick;

// `quick-scaling`: how the pipeline's cost against raw Produce grows with the work, on a broker in another process.
// One dimension moves at a time from the base case (100-byte values, 1 poster, 4 partitions): value size, posters,
// partitions. Each case has its own topics (one per contender, made with the case's partitions before any clock
// starts) and its own message count, sized so a run moves about the same number of bytes.
public static partial class QuickRunner
{
    private const int BaseValueSize = 100;
    private const int BasePosters = 1;
    private const int BasePartitions = 4;
    private const long ScalingBytesPerRun = 100L * 1024 * 1024;
    private const int ScalingMinMessages = 1000;
    private static readonly TimeSpan HeldSampleInterval = TimeSpan.FromMilliseconds(20);

    /// <summary><c>-- quick-scaling [--messages N] [--rounds N]</c>: N caps the messages of a case (default 500,000).</summary>
    public static async Task<int> RunScalingAsync(QuickOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        PrintEnvironment();
        await using RealKafkaBroker broker = await RealKafkaBroker.StartAsync(static line => Console.WriteLine($"  [kafka] {line}")).ConfigureAwait(false);
        Console.WriteLine($"# broker: {(broker.IsEmbedded ? "Apache Kafka 0.9.0.1 in its own JVM process (the real-broker tier's)" : "KAFKA_BOOTSTRAP_SERVERS")} at {broker.BootstrapServers}");
        int maxMessages = options.Messages == new QuickOptions().Messages ? 500_000 : options.Messages;
        Console.WriteLine($"# {options.Rounds} rounds per case after a warm-up, contenders alternating; messages per case: {ScalingBytesPerRun / (1024 * 1024)} MB of values, between {ScalingMinMessages:N0} and {maxMessages:N0}");

        var rows = new List<string>();
        foreach ((int size, int posters, int partitions) in ScalingCases())
        {
            int messages = (int)Math.Clamp(ScalingBytesPerRun / size, ScalingMinMessages, maxMessages);
            Console.WriteLine(string.Create(Invariant, $"# case: {size:N0} B values, {posters} poster(s), {partitions} partition(s), {messages:N0} messages"));
            rows.Add(await RunScalingCaseAsync(broker, size, posters, partitions, messages, options.Rounds).ConfigureAwait(false));
        }

        Console.WriteLine();
        Console.WriteLine("| value | posters | partitions | messages | raw msg/s | pipeline msg/s | pipeline/raw | raw CPU µs/msg | pipeline CPU µs/msg | CPU pipeline/raw | pipeline MB/s |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        rows.ForEach(Console.WriteLine);
        Console.WriteLine();
        await PrintHeldMemoryAsync().ConfigureAwait(false);
        Console.WriteLine(string.Create(Invariant, $"# load average now {LoadAverage()}"));
        return 0;
    }

    private static IEnumerable<(int Size, int Posters, int Partitions)> ScalingCases()
    {
        foreach (int size in new[] { 10, 100, 1024, 10 * 1024, 100 * 1024 })
        {
            yield return (size, BasePosters, BasePartitions);
        }

        foreach (int posters in new[] { 4, 16 })
        {
            yield return (BaseValueSize, posters, BasePartitions);
        }

        foreach (int partitions in new[] { 1, 16 })
        {
            yield return (BaseValueSize, BasePosters, partitions);
        }
    }

    private static async Task<string> RunScalingCaseAsync(RealKafkaBroker broker, int size, int posters, int partitions, int messages, int rounds)
    {
        KafkaRecord<Null, byte[]>[] records = new KafkaRecord<Null, byte[]>[messages];
        for (int i = 0; i < messages; i++)
        {
            byte[] value = new byte[size];
            BitConverter.TryWriteBytes(value, i);
            records[i] = new KafkaRecord<Null, byte[]> { Value = value };
        }

        var raw = new Measurements("raw", "msg/s");
        var pipeline = new Measurements("pipeline", "msg/s");
        var contenders = new (Measurements Into, string Topic, Func<IProducer<Null, byte[]>, string, Task<long>> Run)[]
        {
            (raw, await ScalingTopicAsync(broker, "scale-raw", partitions).ConfigureAwait(false), (p, t) => Task.FromResult(RawProduceFromPosters(p, t, records, posters))),
            (pipeline, await ScalingTopicAsync(broker, "scale-pipeline", partitions).ConfigureAwait(false), (p, t) => PipelineFromPostersAsync(p, t, records, posters)),
        };

        for (int round = 0; round <= rounds; round++)
        {
            foreach (var (into, topic, run) in Rotated(contenders, round))
            {
                using IProducer<Null, byte[]> producer = BuildBrokerProducer(broker, topic);
                long before = SumHighWatermarks(broker, topic);
                FullCollect();
                TimeSpan cpuBefore = Environment.CpuUsage.TotalTime;
                var watch = Stopwatch.StartNew();
                long delivered = await run(producer, topic).ConfigureAwait(false);
                TimeSpan elapsed = watch.Elapsed;
                TimeSpan cpu = Environment.CpuUsage.TotalTime - cpuBefore;
                long onBroker = SumHighWatermarks(broker, topic) - before;
                if (delivered != messages || onBroker != messages)
                {
                    throw new InvalidOperationException($"{into.Name}: {delivered} of {messages} reported delivered, {onBroker} on the broker.");
                }

                if (round > 0)
                {
                    into.Add(delivered, elapsed, cpu);
                }
            }
        }

        double ratio = pipeline.MedianPerSecond / raw.MedianPerSecond;
        double cpuRatio = pipeline.MedianCpuMicrosecondsPerItem / raw.MedianCpuMicrosecondsPerItem;
        Progress(string.Create(Invariant, $"raw {raw.MedianPerSecond:N0} msg/s, pipeline {pipeline.MedianPerSecond:N0} msg/s ({ratio:F2}), CPU {raw.MedianCpuMicrosecondsPerItem:F2} vs {pipeline.MedianCpuMicrosecondsPerItem:F2} µs/msg ({cpuRatio:F2})"));
        return string.Create(Invariant, $"| {size:N0} B | {posters} | {partitions} | {messages:N0} | {raw.MedianPerSecond:N0} | {pipeline.MedianPerSecond:N0} | {ratio:F2} | {raw.MedianCpuMicrosecondsPerItem:F2} | {pipeline.MedianCpuMicrosecondsPerItem:F2} | {cpuRatio:F2} | {pipeline.MedianPerSecond * size / (1024 * 1024):F1} |");
    }

    // A topic with the case's partitions, led by the broker, before any clock starts; reused by the contender's rounds
    // (the rounds check the high watermarks' growth).
    private static async Task<string> ScalingTopicAsync(RealKafkaBroker broker, string prefix, int partitions)
    {
        string topic = KafkaSettings.NewTopic(prefix);
        if (partitions != BasePartitions || !broker.IsEmbedded)
        {
            // The embedded broker creates a topic with 4 partitions when it is first asked about it.
            await broker.CreateTopicAsync(topic, partitions).ConfigureAwait(false);
        }

        BuildBrokerProducer(broker, topic).Dispose();
        return topic;
    }

    // Raw Produce from several threads over one producer (it is thread-safe), each its own contiguous slice.
    private static long RawProduceFromPosters(IProducer<Null, byte[]> producer, string topic, KafkaRecord<Null, byte[]>[] records, int posters)
    {
        long delivered = 0;
        long failed = 0;
        Action<DeliveryReport<Null, byte[]>> handler = report =>
        {
            if (report.Error.IsError)
            {
                Interlocked.Increment(ref failed);
            }
            else
            {
                Interlocked.Increment(ref delivered);
            }
        };

        Parallel.For(0, posters, new ParallelOptions { MaxDegreeOfParallelism = posters }, poster =>
        {
            (int from, int to) = Slice(records.Length, posters, poster);
            for (int i = from; i < to; i++)
            {
                KafkaContenders.ProduceWaitingForRoom(producer, topic, records[i], handler);
            }
        });

        while (producer.Flush(TimeSpan.FromSeconds(10)) > 0)
        {
        }

        return failed > 0 ? throw new InvalidOperationException($"{failed} raw-produce deliveries failed.") : Interlocked.Read(ref delivered);
    }

    // The pipeline with default options, several tasks posting their own slices (Post, then SendAsync when full).
    private static async Task<long> PipelineFromPostersAsync(IProducer<Null, byte[]> producer, string topic, KafkaRecord<Null, byte[]>[] records, int posters)
    {
        BatchProducerBlock<KafkaRecord<Null, byte[]>> block = KafkaProducerBlock.Create(producer, new KafkaSinkOptions<Null, byte[]> { DefaultTopic = topic }, new BatchProducerOptions());
        await Task.WhenAll(Enumerable.Range(0, posters).Select(poster => Task.Run(async () =>
        {
            (int from, int to) = Slice(records.Length, posters, poster);
            for (int i = from; i < to; i++)
            {
                if (!block.Post(records[i]) && !await block.SendAsync(records[i]).ConfigureAwait(false))
                {
                    throw new InvalidOperationException($"The pipeline declined message {i} permanently.");
                }
            }
        }))).ConfigureAwait(false);
        block.Complete();
        await block.Completion.WaitAsync(KafkaContenders.StuckAfter).ConfigureAwait(false);
        return block.GetStatistics().Delivered;
    }

    private static (int From, int To) Slice(int count, int parts, int part) => (
        (int)((long)count * part / parts),
        (int)((long)count * (part + 1) / parts));

    // What one held message costs in memory: the pipeline (default options but BoundedCapacity, which is what is posted)
    // over a producer whose broker does not exist, so every message stays held (batched, or in flight in librdkafka's
    // queue). The values are allocated before the baseline: what is counted is the pipeline's bookkeeping plus
    // Confluent's per-message objects (managed heap after a full collection) and librdkafka's copies of the bytes (the
    // process's resident set).
    private static async Task PrintHeldMemoryAsync()
    {
        Console.WriteLine("| value | held messages | of them in the client's queue | managed heap per held message (bytes) | resident-set growth per message in the client's queue (bytes, rough) |");
        Console.WriteLine("|---:|---:|---:|---:|---:|");
        foreach (int size in new[] { 10, 100, 1024, 10 * 1024, 100 * 1024 })
        {
            // One method per size: an async method's locals live in its state machine, and the last size's pipeline
            // (its exception holds every abandoned record) must be gone before the next baseline.
            await SettleHeapAsync().ConfigureAwait(false);
            Console.WriteLine(await MeasureHeldMemoryAsync(size).ConfigureAwait(false));
        }
    }

    // A disposed producer lets go of its undelivered messages' delivery handlers (and through them the records) only
    // when librdkafka has purged them, on its own threads and some time after Dispose returned: wait until the heap
    // stops shrinking, so the next baseline does not count what is still being released.
    private static async Task SettleHeapAsync()
    {
        long previous = long.MaxValue;
        for (int attempt = 0; attempt < 50; attempt++)
        {
            FullCollect();
            long now = GC.GetTotalMemory(forceFullCollection: true);
            if (previous - now < 64 * 1024)
            {
                return;
            }

            previous = now;
            await Task.Delay(200).ConfigureAwait(false);
        }
    }

    private static async Task<string> MeasureHeldMemoryAsync(int size)
    {
        int count = (int)Math.Clamp(256L * 1024 * 1024 / size, ScalingMinMessages, 50_000);
        var records = new KafkaRecord<Null, byte[]>[count];
        for (int i = 0; i < count; i++)
        {
            records[i] = new KafkaRecord<Null, byte[]> { Value = new byte[size] };
        }

        var config = new ProducerConfig
        {
            BootstrapServers = "127.0.0.1:1", // nothing listens there: every message stays queued
            QueueBufferingMaxMessages = count,
            QueueBufferingMaxKbytes = (int)Math.Min(int.MaxValue, ((long)count * (size + 512) / 1024) + 1024),
            MessageTimeoutMs = 300_000,
        };
        using IProducer<Null, byte[]> producer = new ProducerBuilder<Null, byte[]>(config).SetLogHandler(static (_, _) => { }).Build();
        BatchProducerBlock<KafkaRecord<Null, byte[]>> block = KafkaProducerBlock.Create(
            producer,
            new KafkaSinkOptions<Null, byte[]> { DefaultTopic = "held-memory" },
            new BatchProducerOptions { BoundedCapacity = count, DrainTimeout = TimeSpan.FromSeconds(1), SettleTime = TimeSpan.Zero });
        FullCollect();
        long heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        long residentBefore = Environment.WorkingSet;
        foreach (KafkaRecord<Null, byte[]> record in records)
        {
            if (!block.Post(record))
            {
                throw new InvalidOperationException("The held-memory pipeline declined a message.");
            }
        }

        // Let the produce stage hand what the window allows to the client.
        BatchProducerStatistics s = block.GetStatistics();
        var defaults = new BatchProducerOptions();
        for (int waited = 0; waited < 500 && s.InFlight < Math.Min(count, defaults.MaxInFlightBatches * defaults.BatchSize); waited++)
        {
            await Task.Delay(20).ConfigureAwait(false);
            s = block.GetStatistics();
        }

        long heap = GC.GetTotalMemory(forceFullCollection: true) - heapBefore;
        long resident = Environment.WorkingSet - residentBefore;
        long held = s.Accepted - s.Delivered - s.Failed - s.Abandoned;
        GC.KeepAlive(records); // in the baseline too: only what the pipeline adds is counted
        string row = string.Create(Invariant, $"| {size:N0} B | {held:N0} | {s.InFlight:N0} | {heap / (double)held:N0} | {resident / (double)Math.Max(1, s.InFlight):N0} |");
        ((IDataflowBlock)block).Fault(new OperationCanceledException("The measurement is over."));
        try
        {
            await block.Completion.ConfigureAwait(false);
        }
        catch (BatchProducerException)
        {
            // Every held message is abandoned by design.
        }

        return row;
    }
}
