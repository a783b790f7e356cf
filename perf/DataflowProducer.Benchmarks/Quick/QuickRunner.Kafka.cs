using System.Diagnostics;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Benchmarks.Contenders;
using DataflowProducer.Kafka.Testing;

namespace DataflowProducer.Benchmarks.Quick;

public static partial class QuickRunner
{
    private const int ShutdownMessages = 25;

    private static async Task<(Measurements Pipeline, Measurements Raw, Measurements WhenAll, Measurements WithOutcomes)> RunKafkaAsync(MockKafkaCluster cluster, QuickOptions options)
    {
        int messages = options.Messages;
        KafkaRecord<Null, byte[]>[] records = KafkaSettings.CreateRecords(messages);
        var pipeline = new Measurements("pipeline (BatchProducerBlock, defaults)", "msg/s");
        var raw = new Measurements("raw-produce (Produce + delivery handler, Flush)", "msg/s");
        var whenAll = new Measurements("produceasync-whenall (chunks of 1000)", "msg/s");
        var withOutcomes = new Measurements("pipeline with outcomes read (EmitOutcomes, receipts)", "msg/s");
        var contenders = new (Measurements Into, Func<IProducer<Null, byte[]>, string, int, Task<long>> Run)[]
        {
            (pipeline, (p, t, n) => KafkaContenders.PipelineAsync(p, t, records, n)),
            (raw, (p, t, n) => Task.FromResult(KafkaContenders.RawProduce(p, t, records, n))),
            (whenAll, (p, t, n) => KafkaContenders.ProduceAsyncWhenAllAsync(p, t, records, n)),
            (withOutcomes, (p, t, n) => KafkaContenders.PipelineWithOutcomesAsync(p, t, records, n)),
        };

        Console.WriteLine($"# kafka: {messages:N0} messages of {KafkaSettings.ValueSize} bytes, 3-broker mock cluster, {KafkaSettings.Partitions}-partition topic (fresh per run)");
        Console.WriteLine($"# librdkafka settings (all contenders): {string.Join(", ", KafkaSettings.Producer("<mock>").Where(kv => kv.Key != "bootstrap.servers").Select(kv => $"{kv.Key}={kv.Value}"))}");
        bool countedWithTopicReader = false;
        for (int round = 0; round <= options.Rounds; round++)
        {
            bool warmUp = round == 0;
            int n = warmUp ? Math.Min(messages, 200_000) : messages;
            foreach (var (into, run) in Rotated(contenders, round))
            {
                string topic = KafkaSettings.NewTopic("quick");
                cluster.CreateTopic(topic, KafkaSettings.Partitions);
                TimeSpan elapsed;
                TimeSpan cpu;
                long delivered;
                using (IProducer<Null, byte[]> producer = KafkaSettings.BuildConnectedProducer(cluster.BootstrapServers, topic))
                {
                    FullCollect();
                    TimeSpan cpuBefore = Environment.CpuUsage.TotalTime;
                    var watch = Stopwatch.StartNew();
                    delivered = await run(producer, topic, n).ConfigureAwait(false);
                    elapsed = watch.Elapsed;
                    cpu = Environment.CpuUsage.TotalTime - cpuBefore;
                }

                // What the brokers hold, independently of the contender's own count: the sum of the partitions' high
                // watermarks (the topic is fresh, so it starts at 0). The mock broker trims old log segments, which
                // moves the low watermark, so high minus low can be smaller than what was written.
                long onBroker = TopicReader.SumHighWatermarks(cluster.BootstrapServers, topic, TimeSpan.FromSeconds(30));
                if (delivered != n || onBroker != n)
                {
                    throw new InvalidOperationException($"{into.Name}: {delivered} of {n} reported delivered, {onBroker} on the brokers.");
                }

                if (!countedWithTopicReader && !warmUp)
                {
                    long readerCount = TopicReader.CountMessages(cluster.BootstrapServers, topic);
                    Progress($"check: TopicReader.CountMessages = {readerCount:N0} (high minus low watermark), high-watermark sum = {onBroker:N0}");
                    countedWithTopicReader = true;
                }

                if (!warmUp)
                {
                    into.Add(delivered, elapsed, cpu);
                }

                Progress($"{(warmUp ? "warm-up" : $"round {round}")}: {into.Name}: {delivered / elapsed.TotalSeconds:N0} msg/s ({elapsed.TotalSeconds:F2} s, CPU {cpu.TotalMicroseconds / delivered:F2} µs/msg, {delivered:N0} delivered)");
            }
        }

        return (pipeline, raw, whenAll, withOutcomes);
    }

    private static async Task<double> MeasureShutdownAsync(MockKafkaCluster cluster, int runs)
    {
        Console.WriteLine($"# shutdown: Linger 1 h, BatchSize 1,000,000, {ShutdownMessages} messages, KafkaProducerBlock.Create (owns its producer); time from Complete() to Completion");
        KafkaRecord<Null, byte[]>[] records = KafkaSettings.CreateRecords(ShutdownMessages);
        var times = new List<double>();
        for (int run = 0; run <= runs; run++)
        {
            string topic = KafkaSettings.NewTopic("shutdown");
            cluster.CreateTopic(topic, KafkaSettings.Partitions);
            BatchProducerBlock<KafkaRecord<Null, byte[]>> block = KafkaProducerBlock.Create(
                KafkaSettings.Producer(cluster.BootstrapServers),
                new KafkaSinkOptions<Null, byte[]> { DefaultTopic = topic },
                new BatchProducerOptions { Linger = TimeSpan.FromHours(1), BatchSize = 1_000_000, BoundedCapacity = 1_000_000 });
            foreach (KafkaRecord<Null, byte[]> record in records)
            {
                if (!block.Post(record))
                {
                    throw new InvalidOperationException("The shutdown pipeline declined a message.");
                }
            }

            // A service stops after it has run for a while: let the producer connect before the stop is timed.
            await Task.Delay(250).ConfigureAwait(false);
            var watch = Stopwatch.StartNew();
            block.Complete();
            await block.Completion.ConfigureAwait(false);
            double ms = watch.Elapsed.TotalMilliseconds;

            BatchProducerStatistics s = block.GetStatistics();
            long onBroker = TopicReader.CountMessages(cluster.BootstrapServers, topic);
            if (s.Delivered != ShutdownMessages || onBroker != ShutdownMessages)
            {
                throw new InvalidOperationException($"shutdown: {s.Delivered} of {ShutdownMessages} delivered, {onBroker} on the brokers.");
            }

            if (run > 0)
            {
                times.Add(ms);
            }

            Progress($"{(run == 0 ? "warm-up" : $"run {run}")}: {ms:F1} ms ({s.Delivered} delivered, {onBroker} on the brokers)");
        }

        return Measurements.Median(times);
    }
}
