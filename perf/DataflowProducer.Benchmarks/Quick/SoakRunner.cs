using System.Diagnostics;
using Confluent.Kafka;
using DataflowProducer.Benchmarks.Contenders;
using DataflowProducer.Kafka.Testing;

namespace DataflowProducer.Benchmarks.Quick;

/// <summary>
/// <c>-- soak &lt;pipeline|raw-produce|produceasync-whenall&gt; [seconds]</c>: one Kafka contender over and over, for
/// attaching a profiler (<c>dotnet-trace collect -p PID</c>, <c>dotnet-counters monitor -p PID</c>) or watching
/// per-thread CPU (<c>top -H -p PID</c>).
/// </summary>
public static class SoakRunner
{
    public static async Task<int> RunAsync(string[] args)
    {
        string contender = args.Length > 0 ? args[0] : "pipeline";
        int seconds = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 60;
        const int Messages = 500_000;
        Func<IProducer<Null, byte[]>, string, KafkaRecord<Null, byte[]>[], Task<long>> run = contender switch
        {
            "pipeline" => (p, t, r) => KafkaContenders.PipelineAsync(p, t, r, Messages),
            "raw-produce" => (p, t, r) => Task.FromResult(KafkaContenders.RawProduce(p, t, r, Messages)),
            "produceasync-whenall" => (p, t, r) => KafkaContenders.ProduceAsyncWhenAllAsync(p, t, r, Messages),
            _ => throw new ArgumentException($"Unknown contender '{contender}'.", nameof(args)),
        };

        Console.WriteLine($"# soak: {contender} for {seconds} s, process id {Environment.ProcessId}");
        using MockKafkaCluster cluster = MockKafkaCluster.Start(3);
        KafkaRecord<Null, byte[]>[] records = KafkaSettings.CreateRecords(Messages);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            string topic = KafkaSettings.NewTopic("soak");
            cluster.CreateTopic(topic, KafkaSettings.Partitions);
            using IProducer<Null, byte[]> producer = KafkaSettings.BuildConnectedProducer(cluster.BootstrapServers, topic);
            TimeSpan cpuBefore = Environment.CpuUsage.TotalTime;
            var watch = Stopwatch.StartNew();
            long delivered = await run(producer, topic, records).ConfigureAwait(false);
            TimeSpan cpu = Environment.CpuUsage.TotalTime - cpuBefore;
            Console.WriteLine($"  {delivered / watch.Elapsed.TotalSeconds:N0} msg/s, CPU {cpu.TotalMicroseconds / delivered:F2} µs/msg");
        }

        return 0;
    }
}
