using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using DataflowProducer.Benchmarks.Contenders;
using DataflowProducer.Kafka.Tests.RealBroker;

namespace DataflowProducer.Benchmarks.Quick;

// `quick-broker`: the Kafka contenders against a broker in another process (the real-broker tier's Kafka 0.9, started
// and stopped here, or KAFKA_BOOTSTRAP_SERVERS), and the command-line tool against kcat on the same file and broker.
public static partial class QuickRunner
{
    private const int CliLines = 1_000_000;

    /// <summary><c>-- quick-broker [--messages N] [--rounds N]</c>.</summary>
    public static async Task<int> RunBrokerAsync(QuickOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        PrintEnvironment();
        await using RealKafkaBroker broker = await RealKafkaBroker.StartAsync(static line => Console.WriteLine($"  [kafka] {line}")).ConfigureAwait(false);
        Console.WriteLine($"# broker: {(broker.IsEmbedded ? "Apache Kafka 0.9.0.1 in its own JVM process (the real-broker tier's)" : "KAFKA_BOOTSTRAP_SERVERS")} at {broker.BootstrapServers}");

        var (pipeline, raw, withOutcomes) = await RunBrokerKafkaAsync(broker, options).ConfigureAwait(false);
        var (cli, kcat) = await RunCliAgainstKcatAsync(broker, options.Rounds).ConfigureAwait(false);
        await RunWaitBreakdownAsync(broker, options, WaitWindows).ConfigureAwait(false);

        Console.WriteLine();
        PrintTable([pipeline, raw, withOutcomes, .. new[] { cli, kcat }.Where(static m => m.Count > 0)]);
        Console.WriteLine();
        Console.WriteLine(string.Create(Invariant, $"RATIO broker-pipeline/raw-produce = {pipeline.MedianPerSecond / raw.MedianPerSecond:F2}"));
        Console.WriteLine(string.Create(Invariant, $"RATIO broker-pipeline-cpu-per-message/raw = {pipeline.MedianCpuMicrosecondsPerItem / raw.MedianCpuMicrosecondsPerItem:F2}"));
        Console.WriteLine(string.Create(Invariant, $"RATIO broker-pipeline-outcomes/broker-pipeline = {withOutcomes.MedianPerSecond / pipeline.MedianPerSecond:F2}"));
        if (cli.Count > 0 && kcat.Count > 0)
        {
            Console.WriteLine(string.Create(Invariant, $"RATIO cli-wall/kcat-wall = {cli.MedianSeconds / kcat.MedianSeconds:F2}"));
            Console.WriteLine(string.Create(Invariant, $"RATIO cli-cpu/kcat-cpu = {cli.MedianCpuMicrosecondsPerItem / kcat.MedianCpuMicrosecondsPerItem:F2}"));
        }

        Console.WriteLine(string.Create(Invariant, $"# load average now {LoadAverage()}"));
        return 0;
    }

    private static ProducerConfig BrokerProducerConfig(RealKafkaBroker broker)
    {
        ProducerConfig config = KafkaSettings.Producer(broker.BootstrapServers);
        broker.ApplyClientSettings(config);

        // A 0.9 broker has no idempotent producer; every contender runs without it there.
        config.EnableIdempotence = !broker.IsEmbedded;
        return config;
    }

    private static async Task<(Measurements Pipeline, Measurements Raw, Measurements WithOutcomes)> RunBrokerKafkaAsync(RealKafkaBroker broker, QuickOptions options)
    {
        int messages = options.Messages;
        KafkaRecord<Null, byte[]>[] records = KafkaSettings.CreateRecords(messages);
        var pipeline = new Measurements("broker: pipeline (BatchProducerBlock, defaults)", "msg/s");
        var raw = new Measurements("broker: raw-produce (Produce + delivery handler, Flush)", "msg/s");
        var withOutcomes = new Measurements("broker: pipeline with outcomes read", "msg/s");
        var contenders = new (Measurements Into, Func<IProducer<Null, byte[]>, string, int, Task<long>> Run)[]
        {
            (pipeline, (p, t, n) => KafkaContenders.PipelineAsync(p, t, records, n)),
            (raw, (p, t, n) => Task.FromResult(KafkaContenders.RawProduce(p, t, records, n))),
            (withOutcomes, (p, t, n) => KafkaContenders.PipelineWithOutcomesAsync(p, t, records, n)),
        };

        Console.WriteLine($"# kafka: {messages:N0} messages of {KafkaSettings.ValueSize} bytes, {KafkaSettings.Partitions}-partition topic (fresh per run), {options.Rounds} rounds after a warm-up");
        for (int round = 0; round <= options.Rounds; round++)
        {
            bool warmUp = round == 0;
            int n = warmUp ? Math.Min(messages, 200_000) : messages;
            foreach (var (into, run) in Rotated(contenders, round))
            {
                string topic = KafkaSettings.NewTopic("broker");
                using IProducer<Null, byte[]> producer = BuildBrokerProducer(broker, topic);
                FullCollect();
                TimeSpan cpuBefore = Environment.CpuUsage.TotalTime;
                var watch = Stopwatch.StartNew();
                long delivered = await run(producer, topic, n).ConfigureAwait(false);
                TimeSpan elapsed = watch.Elapsed;
                TimeSpan cpu = Environment.CpuUsage.TotalTime - cpuBefore;
                long onBroker = SumHighWatermarks(broker, topic);
                if (delivered != n || onBroker != n)
                {
                    throw new InvalidOperationException($"{into.Name}: {delivered} of {n} reported delivered, {onBroker} on the broker.");
                }

                if (!warmUp)
                {
                    into.Add(delivered, elapsed, cpu);
                }

                Progress($"{(warmUp ? "warm-up" : $"round {round}")}: {into.Name}: {delivered / elapsed.TotalSeconds:N0} msg/s ({elapsed.TotalSeconds:F2} s, CPU {cpu.TotalMicroseconds / delivered:F2} µs/msg)");
            }
        }

        return (pipeline, raw, withOutcomes);
    }

    // Connected and the topic's partitions led before the clock starts (a 0.9 broker creates the topic on the first
    // metadata request).
    private static IProducer<Null, byte[]> BuildBrokerProducer(RealKafkaBroker broker, string topic)
    {
        IProducer<Null, byte[]> producer = new ProducerBuilder<Null, byte[]>(BrokerProducerConfig(broker)).SetLogHandler(static (_, _) => { }).Build();
        try
        {
            using IAdminClient admin = new DependentAdminClientBuilder(producer.Handle).Build();
            var stopwatch = Stopwatch.StartNew();
            while (true)
            {
                TopicMetadata? metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.SingleOrDefault(t => t.Topic == topic);
                if (metadata is { Error.IsError: false } && metadata.Partitions.Count > 0 && metadata.Partitions.TrueForAll(static p => p.Leader >= 0))
                {
                    return producer;
                }

                if (stopwatch.Elapsed > TimeSpan.FromSeconds(60))
                {
                    throw new TimeoutException($"Topic {topic} has no leader for every partition after 60 s.");
                }

                Thread.Sleep(100);
            }
        }
        catch
        {
            producer.Dispose();
            throw;
        }
    }

    private static long SumHighWatermarks(RealKafkaBroker broker, string topic)
    {
        var config = new ConsumerConfig { BootstrapServers = broker.BootstrapServers, GroupId = "bench-watermarks" };
        broker.ApplyClientSettings(config);
        using IConsumer<Ignore, Ignore> consumer = new ConsumerBuilder<Ignore, Ignore>(config).SetLogHandler(static (_, _) => { }).Build();
        using IAdminClient admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        TopicMetadata metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single();
        return metadata.Partitions.Sum(p => consumer.QueryWatermarkOffsets(new TopicPartition(topic, p.PartitionId), TimeSpan.FromSeconds(10)).High.Value);
    }

    // The tool's `produce` and kcat -P on the same file of 1,000,000 lines of 100 bytes, to fresh topics of the same
    // broker, alternating; wall and CPU (user + system of the child process tree, from bash's `time`).
    private static async Task<(Measurements Cli, Measurements Kcat)> RunCliAgainstKcatAsync(RealKafkaBroker broker, int rounds)
    {
        var cli = new Measurements("cli: dataflow-producer produce (1,000,000 lines of 100 B)", "lines/s");
        var kcat = new Measurements("kcat -P (the same file)", "lines/s");
        string? cliDll = FindCli();
        string? kcatPath = FindOrInstallKcat();
        if (cliDll is null)
        {
            Console.WriteLine("# cli vs kcat: skipped: the tool is not built (dotnet build DataflowProducer.sln -c Release first)");
            return (cli, kcat);
        }

        if (kcatPath is null)
        {
            Console.WriteLine("# cli vs kcat: skipped: kcat is not installed and could not be installed (apt-get install kcat, as root)");
            return (cli, kcat);
        }

        string file = Path.Combine(Path.GetTempPath(), $"dataflowproducer-bench-{Guid.NewGuid():N}.txt");
        await File.WriteAllLinesAsync(file, Enumerable.Range(0, CliLines).Select(static i => i.ToString("D10", CultureInfo.InvariantCulture) + new string('x', 90))).ConfigureAwait(false);
        try
        {
            string[] versionArgs = broker.IsEmbedded ? ["-X", "api.version.request=false", "-X", $"broker.version.fallback={RealKafkaBroker.BrokerVersionFallback}"] : [];
            Console.WriteLine($"# cli vs kcat: {CliLines:N0} lines of 100 bytes, {rounds} rounds after a warm-up, fresh topic per run, each with its own defaults");
            for (int round = 0; round <= rounds; round++)
            {
                foreach (bool isCli in round % 2 == 0 ? new[] { true, false } : [false, true])
                {
                    string topic = KafkaSettings.NewTopic(isCli ? "cli" : "kcat");
                    BuildBrokerProducer(broker, topic).Dispose();
                    string command = isCli
                        ? $"dotnet {Quote(cliDll)} produce --topic {topic} --input {Quote(file)} --format lines --bootstrap-servers {broker.BootstrapServers} --quiet {string.Join(' ', versionArgs)}"
                        : $"{Quote(kcatPath)} -P -b {broker.BootstrapServers} -t {topic} -l {Quote(file)} {string.Join(' ', versionArgs)}";
                    (TimeSpan wall, TimeSpan cpu) = await TimeChildAsync(command).ConfigureAwait(false);
                    long onBroker = SumHighWatermarks(broker, topic);
                    if (onBroker != CliLines)
                    {
                        throw new InvalidOperationException($"{(isCli ? "cli" : "kcat")}: {onBroker} of {CliLines} lines on the broker.");
                    }

                    Measurements into = isCli ? cli : kcat;
                    if (round > 0)
                    {
                        into.Add(CliLines, wall, cpu);
                    }

                    Progress($"{(round == 0 ? "warm-up" : $"round {round}")}: {into.Name}: {wall.TotalSeconds:F2} s wall, {cpu.TotalSeconds:F2} s CPU");
                }
            }
        }
        finally
        {
            File.Delete(file);
        }

        return (cli, kcat);
    }

    private static async Task<(TimeSpan Wall, TimeSpan Cpu)> TimeChildAsync(string command)
    {
        var start = new ProcessStartInfo("bash", ["-c", $"TIMEFORMAT='%R %U %S'; {{ time {command} >/dev/null 2>/dev/null; }} 2>&1"])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        using Process process = Process.Start(start)!;
        string output = await process.StandardOutput.ReadToEndAsync().ConfigureAwait(false);
        await process.WaitForExitAsync().ConfigureAwait(false);
        string[] parts = output.Trim().Split('\n')[^1].Split(' ');
        if (process.ExitCode != 0 || parts.Length != 3)
        {
            throw new InvalidOperationException($"`{command}` failed (exit {process.ExitCode}): {output}");
        }

        double Seconds(string text) => double.Parse(text, CultureInfo.InvariantCulture);
        return (TimeSpan.FromSeconds(Seconds(parts[0])), TimeSpan.FromSeconds(Seconds(parts[1]) + Seconds(parts[2])));
    }

    private static string Quote(string path) => "'" + path.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    // The tool as the solution's Release build left it, found from this assembly's folder up to the repository root.
    private static string? FindCli()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "DataflowProducer.sln")))
            {
                string dll = Path.Combine(directory.FullName, "src", "DataflowProducer.Cli", "bin", "Release", "net10.0", "dataflow-producer.dll");
                return File.Exists(dll) ? dll : null;
            }
        }

        return null;
    }

    private static string? FindOrInstallKcat()
    {
        string? found = OnPath("kcat");
        if (found is not null || !string.Equals(Environment.UserName, "root", StringComparison.Ordinal))
        {
            return found;
        }

        Console.WriteLine("# installing kcat from Debian's packages");
        using Process? install = Process.Start(new ProcessStartInfo("bash", ["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat"]) { UseShellExecute = false });
        install?.WaitForExit();
        return OnPath("kcat");
    }

    private static string? OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);
}
