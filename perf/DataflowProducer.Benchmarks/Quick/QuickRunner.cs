using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using DataflowProducer.Benchmarks.Contenders;
using DataflowProducer.Kafka.Testing;

namespace DataflowProducer.Benchmarks.Quick;

/// <summary>
/// The one-command report: every contender runs in this process, in alternating order, after a warm-up round, and
/// the ratios are of median throughputs. See perf/README.md for the method and the meaning of each line.
/// </summary>
public static partial class QuickRunner
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public static async Task<int> RunAsync(QuickOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var total = Stopwatch.StartNew();
        PrintEnvironment();

        Measurements pipeline, raw, whenAll, withOutcomes;
        using (MockKafkaCluster cluster = MockKafkaCluster.Start(3))
        {
            (pipeline, raw, whenAll, withOutcomes) = await RunKafkaAsync(cluster, options).ConfigureAwait(false);
        }

        (Measurements linger, Measurements batchBlock) = await RunBatchingAsync(options).ConfigureAwait(false);
        (Measurements outcomesOff, Measurements outcomesOn) = await RunOutcomesAsync(options).ConfigureAwait(false);
        double bytesPerMessage = await MeasureAllocationAsync(options.AllocationItems).ConfigureAwait(false);

        double shutdownMs;
        using (MockKafkaCluster cluster = MockKafkaCluster.Start(3))
        {
            shutdownMs = await MeasureShutdownAsync(cluster, options.ShutdownRuns).ConfigureAwait(false);
        }

        MemoryResult memory = await CheckMemoryBoundedAsync().ConfigureAwait(false);

        Console.WriteLine();
        PrintTable([pipeline, raw, whenAll, withOutcomes, linger, batchBlock, outcomesOff, outcomesOn]);
        Console.WriteLine();

        double pipelineRaw = pipeline.MedianPerSecond / raw.MedianPerSecond;
        double pipelineWhenAll = pipeline.MedianPerSecond / whenAll.MedianPerSecond;
        double lingerBatch = linger.MedianPerSecond / batchBlock.MedianPerSecond;
        Console.WriteLine(string.Create(Invariant, $"RATIO pipeline/raw-produce = {pipelineRaw:F2}"));
        Console.WriteLine(string.Create(Invariant, $"RATIO pipeline/produceasync-whenall = {pipelineWhenAll:F2}"));
        Console.WriteLine(string.Create(Invariant, $"RATIO lingerbatch/batchblock = {lingerBatch:F2}"));
        double outcomesCost = outcomesOn.MedianPerSecond / outcomesOff.MedianPerSecond;
        double kafkaOutcomes = withOutcomes.MedianPerSecond / pipeline.MedianPerSecond;
        Console.WriteLine(string.Create(Invariant, $"RATIO outcomes-on/outcomes-off = {outcomesCost:F2} (free sink: the pipeline's own cost)"));
        Console.WriteLine(string.Create(Invariant, $"RATIO kafka-pipeline-outcomes/kafka-pipeline = {kafkaOutcomes:F2}"));
        Console.WriteLine(string.Create(Invariant, $"ALLOC pipeline-bytes-per-message = {Math.Round(bytesPerMessage, MidpointRounding.AwayFromZero):F0}"));
        Console.WriteLine(string.Create(Invariant, $"SHUTDOWN complete-to-completion-ms = {Math.Round(shutdownMs, MidpointRounding.AwayFromZero):F0}"));
        Console.WriteLine(string.Create(Invariant, $"MEMORY peak-managed-heap-mb = {memory.PeakMegabytes:F0}"));

        Console.WriteLine();
        bool allMet = true;
        allMet &= Target("pipeline/raw-produce >= 0.95", pipelineRaw >= 0.95);
        allMet &= Target("pipeline/produceasync-whenall >= 2.5", pipelineWhenAll >= 2.5);
        allMet &= Target("lingerbatch/batchblock >= 1.0", lingerBatch >= 1.0);
        allMet &= Target("outcomes on cost <= 5% of the Kafka pipeline's throughput", kafkaOutcomes >= 0.95);
        allMet &= Target("pipeline bytes per message <= 32", bytesPerMessage <= 32);
        allMet &= Target("shutdown < 200 ms", shutdownMs < 200);
        allMet &= Target("memory bounded (posters held at capacity, heap flat, poster ended on abort)", memory.Bounded);
        Console.WriteLine(string.Create(Invariant, $"# {(allMet ? "all targets met" : "some targets missed")}; total {total.Elapsed.TotalSeconds:F0} s; load average now {LoadAverage()}"));
        return 0;
    }

    /// <summary><c>-- quick-batching [--batching-rounds N] [--batching-items N]</c>: only the LingerBatchBlock/BatchBlock
    /// comparison, for trying a change to the batch block quickly.</summary>
    public static async Task<int> RunBatchingOnlyAsync(QuickOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        PrintEnvironment();
        (Measurements linger, Measurements batchBlock) = await RunBatchingAsync(options).ConfigureAwait(false);
        PrintTable([linger, batchBlock]);
        Console.WriteLine(string.Create(Invariant, $"RATIO lingerbatch/batchblock = {linger.MedianPerSecond / batchBlock.MedianPerSecond:F2}"));
        return 0;
    }

    /// <summary><c>-- quick-outcomes [--batching-rounds N] [--batching-items N]</c>: only the cost of outcomes, on a sink
    /// that costs nothing (half as many items as the batching comparison).</summary>
    public static async Task<int> RunOutcomesOnlyAsync(QuickOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        PrintEnvironment();
        (Measurements off, Measurements on) = await RunOutcomesAsync(options).ConfigureAwait(false);
        PrintTable([off, on]);
        Console.WriteLine(string.Create(Invariant, $"RATIO outcomes-on/outcomes-off = {on.MedianPerSecond / off.MedianPerSecond:F2}"));
        return 0;
    }

    private static bool Target(string what, bool met)
    {
        Console.WriteLine($"# target {(met ? "met   " : "MISSED")}: {what}");
        return met;
    }

    private static void PrintEnvironment()
    {
        Console.WriteLine(string.Create(Invariant, $"# {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {Environment.ProcessorCount} logical cores; {RuntimeInformation.FrameworkDescription}; {RuntimeInformation.OSDescription} {RuntimeInformation.OSArchitecture}"));
        Console.WriteLine($"# GC: {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}, concurrent {AppContext.TryGetSwitch("System.GC.Concurrent", out bool c) && c}; load average at start {LoadAverage()}");
    }

    private static string LoadAverage()
    {
        try
        {
            string[] parts = File.ReadAllText("/proc/loadavg").Split(' ');
            return $"{parts[0]} {parts[1]} {parts[2]}";
        }
        catch (IOException)
        {
            return "unknown";
        }
        catch (UnauthorizedAccessException)
        {
            return "unknown";
        }
    }

    private static void PrintTable(IEnumerable<Measurements> rows)
    {
        Console.WriteLine("| contender | rounds | median /s | min /s | max /s | median time (s) | median process CPU per item (µs) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (Measurements m in rows)
        {
            Console.WriteLine(string.Create(Invariant, $"| {m.Name} | {m.Count} | {m.MedianPerSecond:N0} {m.Unit} | {m.MinPerSecond:N0} | {m.MaxPerSecond:N0} | {m.MedianSeconds:F3} | {m.MedianCpuMicrosecondsPerItem:F3} |"));
        }
    }

    private static void Progress(string text) => Console.WriteLine(string.Create(Invariant, $"  {text}"));

    private static void FullCollect()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    // Round r runs the contenders rotated by r, so no contender always goes first or always follows the same one.
    private static IEnumerable<T> Rotated<T>(IReadOnlyList<T> items, int round)
    {
        for (int i = 0; i < items.Count; i++)
        {
            yield return items[(i + round) % items.Count];
        }
    }

    private static async Task<(Measurements Linger, Measurements BatchBlock)> RunBatchingAsync(QuickOptions options)
    {
        const int BatchSize = 1000;
        var linger = new Measurements("LingerBatchBlock<int> (direct Post, batch 1000)", "items/s");
        var batchBlock = new Measurements("BatchBlock<int> (direct Post, batch 1000)", "items/s");
        var contenders = new (Measurements Into, Func<int, Task<long>> Run)[]
        {
            (linger, n => BatchingContenders.LingerBatchBlockAsync(n, BatchSize, viaBufferBlock: false)),
            (batchBlock, n => BatchingContenders.BatchBlockAsync(n, BatchSize, viaBufferBlock: false)),
        };

        Console.WriteLine(string.Create(Invariant, $"# batching: {options.BatchingItems:N0} ints, direct Post, batch {BatchSize}, to a counting ActionBlock<int[]>"));
        for (int round = 0; round <= options.BatchingRounds; round++)
        {
            bool warmUp = round == 0;
            foreach (var (into, run) in Rotated(contenders, round))
            {
                FullCollect();
                TimeSpan cpuBefore = Environment.CpuUsage.TotalTime;
                var watch = Stopwatch.StartNew();
                long received = await run(options.BatchingItems).ConfigureAwait(false);
                watch.Stop();
                TimeSpan cpu = Environment.CpuUsage.TotalTime - cpuBefore;
                if (received != options.BatchingItems)
                {
                    throw new InvalidOperationException($"{into.Name}: {received} of {options.BatchingItems} items arrived.");
                }

                if (!warmUp)
                {
                    into.Add(received, watch.Elapsed, cpu);
                }

                Progress(string.Create(Invariant, $"{(warmUp ? "warm-up" : $"round {round}")}: {into.Name}: {received / watch.Elapsed.TotalSeconds:N0} items/s, CPU {cpu.TotalMicroseconds / received:F3} µs/item"));
            }
        }

        return (linger, batchBlock);
    }
}
