using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Confluent.Kafka;
using DataflowProducer.Benchmarks.Contenders;
using DataflowProducer.Kafka.Testing;

namespace DataflowProducer.Benchmarks.Quick;

// Adaptive batching against a slow broker: the Kafka pipeline on the mock cluster with a 200 ms round trip on every
// broker, with fixed batching (the defaults: 1000 records, 50 ms, 8 batches in flight) and with adaptive batching
// (its defaults, except a 1 s window and a 2 s cool-down so a round of a few seconds sees the steps).
public static partial class QuickRunner
{
    private static readonly TimeSpan SlowBrokerRoundTrip = TimeSpan.FromMilliseconds(200);

    /// <summary><c>-- quick-adaptive [--messages N] [--rounds N]</c>: fixed against adaptive batching, alternating
    /// rounds after a warm-up, on a mock cluster whose brokers all answer after 200 ms.</summary>
    public static async Task<int> RunAdaptiveAsync(QuickOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var total = Stopwatch.StartNew();
        PrintEnvironment();
        int messages = options.Messages;
        KafkaRecord<Null, byte[]>[] records = KafkaSettings.CreateRecords(messages);
        var fixedRun = new Measurements("pipeline, fixed batching (defaults)", "msg/s");
        var adaptiveRun = new Measurements("pipeline, adaptive batching (window 1 s, cool-down 2 s)", "msg/s");
        var batches = new Dictionary<Measurements, List<double>> { [fixedRun] = [], [adaptiveRun] = [] };
        var contenders = new (Measurements Into, Func<BatchProducerOptions> Options)[]
        {
            (fixedRun, static () => new BatchProducerOptions()),
            (adaptiveRun, static () => new BatchProducerOptions { Adaptive = new AdaptiveBatchingOptions { Window = TimeSpan.FromSeconds(1), CoolDown = TimeSpan.FromSeconds(2) } }),
        };

        using MockKafkaCluster cluster = MockKafkaCluster.Start(3);
        foreach (int broker in cluster.BrokerIds)
        {
            cluster.SetBrokerRoundTripTime(broker, SlowBrokerRoundTrip);
        }

        Console.WriteLine(string.Create(Invariant, $"# adaptive: {messages:N0} messages of {KafkaSettings.ValueSize} bytes, 3-broker mock cluster, round trip {SlowBrokerRoundTrip.TotalMilliseconds:0} ms on every broker, {KafkaSettings.Partitions}-partition topic (fresh per run); {options.Rounds} rounds"));
        for (int round = 0; round <= options.Rounds; round++)
        {
            bool warmUp = round == 0;
            int n = warmUp ? Math.Min(messages, 100_000) : messages;
            foreach (var (into, pipelineOptions) in Rotated(contenders, round))
            {
                string topic = KafkaSettings.NewTopic("adaptive");
                cluster.CreateTopic(topic, KafkaSettings.Partitions);
                TimeSpan elapsed;
                TimeSpan cpu;
                BatchProducerStatistics statistics;
                var watch = new Stopwatch();
                using LimitRecorder limits = new(watch);
                using (IProducer<Null, byte[]> producer = KafkaSettings.BuildConnectedProducer(cluster.BootstrapServers, topic))
                {
                    FullCollect();
                    TimeSpan cpuBefore = Environment.CpuUsage.TotalTime;
                    watch.Start();
                    statistics = await KafkaContenders.PipelineStatisticsAsync(producer, topic, records, n, pipelineOptions()).ConfigureAwait(false);
                    elapsed = watch.Elapsed;
                    cpu = Environment.CpuUsage.TotalTime - cpuBefore;
                }

                long onBroker = TopicReader.SumHighWatermarks(cluster.BootstrapServers, topic, TimeSpan.FromSeconds(30));
                if (statistics.Delivered != n || onBroker != n)
                {
                    throw new InvalidOperationException($"{into.Name}: {statistics.Delivered} of {n} reported delivered, {onBroker} on the brokers.");
                }

                if (!warmUp)
                {
                    into.Add(statistics.Delivered, elapsed, cpu);
                    batches[into].Add(statistics.Batches);
                }

                Progress(string.Create(Invariant, $"{(warmUp ? "warm-up" : $"round {round}")}: {into.Name}: {statistics.Delivered / elapsed.TotalSeconds:N0} msg/s ({elapsed.TotalSeconds:F2} s, CPU {cpu.TotalMicroseconds / statistics.Delivered:F2} µs/msg, {statistics.Batches:N0} batches, {statistics.Delivered / (double)statistics.Batches:N0} per batch{limits})"));
            }
        }

        Console.WriteLine();
        PrintTable([fixedRun, adaptiveRun]);
        double fixedBatches = Measurements.Median(batches[fixedRun]);
        double adaptiveBatches = Measurements.Median(batches[adaptiveRun]);
        Console.WriteLine(string.Create(Invariant, $"BATCHES fixed = {fixedBatches:F0}, adaptive = {adaptiveBatches:F0} (median sink calls per round)"));
        Console.WriteLine(string.Create(Invariant, $"RATIO adaptive/fixed throughput = {adaptiveRun.MedianPerSecond / fixedRun.MedianPerSecond:F2}"));
        Console.WriteLine(string.Create(Invariant, $"RATIO adaptive/fixed cpu-per-message = {adaptiveRun.MedianCpuMicrosecondsPerItem / fixedRun.MedianCpuMicrosecondsPerItem:F2}"));
        Console.WriteLine(string.Create(Invariant, $"RATIO adaptive/fixed batches = {adaptiveBatches / fixedBatches:F2}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# total {total.Elapsed.TotalSeconds:F0} s; load average now {LoadAverage()}"));
        return 0;
    }

    // The batch size limits adaptive batching set during a run, and when (the gauge dataflowproducer.batch.size.limit).
    private sealed class LimitRecorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly List<string> _changes = [];

        public LimitRecorder(Stopwatch watch)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "DataflowProducer" && instrument.Name == "dataflowproducer.batch.size.limit")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<int>((_, value, _, _) =>
            {
                lock (_changes)
                {
                    _changes.Add(string.Create(CultureInfo.InvariantCulture, $"{value:N0} at {watch.Elapsed.TotalSeconds:F1} s"));
                }
            });
            _listener.Start();
        }

        public override string ToString()
        {
            lock (_changes)
            {
                return _changes.Count == 0 ? string.Empty : "; batch size limit " + string.Join(", ", _changes);
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
