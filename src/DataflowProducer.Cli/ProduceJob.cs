using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Cli.Input;
using DataflowProducer.Cli.Kafka;
using DataflowProducer.Cli.Output;
using DataflowProducer.Cli.Verification;
using DataflowProducer.Kafka;
using DataflowProducer.Kafka.Testing;

namespace DataflowProducer.Cli;

/// <summary>One run of <c>produce</c>: input → <see cref="BatchProducerBlock{T}"/> over Kafka → summary.</summary>
/// <remarks>
/// <para>One loop reads the input and sends each record to the block in input order; the block batches them, keeps
/// batches in order, and the producer is idempotent (by default), so records keep their input order per key.</para>
/// <para>Shutdown: the first signal cancels the read (a read waiting on standard input is left behind), then the
/// block is completed and drained as after the end of the input. The second faults the block: it stops at once and
/// hands back, through <see cref="BatchProducerCallbacks{T}.ItemsAbandoned"/>, every record not yet delivered.</para>
/// </remarks>
internal sealed class ProduceJob
{
    private const int MaxReportedMalformed = 1000;
    private const int MaxReportedFailures = 20;

    private readonly ProduceSettings _settings;
    private readonly CliConsole _console;
    private readonly Reporter _reporter;
    private readonly ContentDigest? _sent;
    private readonly Lock _abandonedLock = new();
    private readonly List<byte[]> _abandonedValues = [];
    private long _malformed;
    private long _refused;
    private long _reportedFailures;
    private bool _pipelineStarted;
    private bool _abortRequested;
    private bool _unexpectedError;

    public ProduceJob(ProduceSettings settings, CliConsole console)
    {
        _settings = settings;
        _console = console;
        _reporter = new Reporter(console.Error, console.IsErrorTerminal, settings.Quiet);
        _sent = settings.Verify ? new ContentDigest() : null;
    }

    private enum InputEnd
    {
        EndOfInput,
        Stopped,
        StrictStop,
        Refused,
        Failed,
    }

    public async Task<int> RunAsync()
    {
        try
        {
            return await SetUpAndProduceAsync().ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Before the pipeline started nothing was accepted; the run still ends with its summary.
        catch (Exception ex) when (!_pipelineStarted)
#pragma warning restore CA1031
        {
            ReportUnexpected(ex, "setting up the run", "nothing was produced.");
            await ReportAsync(Summary.Nothing, [("input", "not read")]).ConfigureAwait(false);
            return ExitCodes.UnexpectedError;
        }
    }

    private async Task<int> SetUpAndProduceAsync()
    {
        ShutdownSignal shutdown = _console.Shutdown;
        RecordReader? reader = await OpenInputAsync(shutdown.Stopping).ConfigureAwait(false);
        if (reader is null)
        {
            return ExitCodes.BadArguments;
        }

        await using (reader.ConfigureAwait(false))
        {
            using MockKafkaCluster? cluster = _settings.BootstrapServers is null ? StartEmbeddedCluster() : null;
            string servers = _settings.BootstrapServers ?? cluster!.BootstrapServers;
            ProducerConfig config = _settings.ClientProperties.ToProducerConfig(servers);
            if (_settings.ShowConfig)
            {
                _reporter.Line(ClientProperties.Describe(config));
            }

            BatchProducerBlock<KafkaRecord<byte[]?, byte[]>> block;
            try
            {
                block = KafkaProducerBlock.Create(
                    config,
                    new KafkaSinkOptions<byte[]?, byte[]> { DefaultTopic = _settings.Topic },
                    _settings.Pipeline,
                    new BatchProducerCallbacks<KafkaRecord<byte[]?, byte[]>> { ItemFailed = OnFailed, ItemsAbandoned = OnAbandoned },
                    new ReporterLoggerFactory(_reporter));
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
            {
                // The sink throws ArgumentException for a setting librdkafka rejects (the topic name was checked while
                // parsing), Confluent's builder InvalidOperationException for some others; the message names the setting.
                string message = ex is ArgumentException { ParamName: { } parameter } ? ex.Message.Replace($" (Parameter '{parameter}')", string.Empty, StringComparison.Ordinal) : ex.Message;
                _reporter.Line($"error: the Kafka producer could not be set up: {message}");
                return ExitCodes.BadArguments;
            }

            TopicVerifier? verifier = null;
            if (_settings.Verify)
            {
                try
                {
                    ClientConfig readerConfig = _settings.ClientProperties.ToClientConfig(servers);
                    verifier = await Task.Run(() => TopicVerifier.Start(readerConfig, _settings.Topic)).ConfigureAwait(false);
                }
#pragma warning disable CA1031 // Whatever stops the read-back before it starts, the verdict is the same: it cannot verify.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    _reporter.Line($"error: --verify cannot read topic '{_settings.Topic}': {ex.Message}");
                    await block.DisposeAsync().ConfigureAwait(false);
                    await ReportAsync(Summary.Nothing, [("input", "not read"), ("verify", "FAILED: the topic cannot be read")]).ConfigureAwait(false);
                    return ExitCodes.VerificationFailed;
                }
            }

            using (verifier)
            {
                _pipelineStarted = true;
                return await ProduceAsync(block, shutdown, verifier, reader).ConfigureAwait(false);
            }
        }
    }

    // From here on, whatever goes wrong, what was accepted is drained and the summary printed: every step that can
    // throw is guarded, and an unexpected error only stops reading and decides the exit code.
    private async Task<int> ProduceAsync(
        BatchProducerBlock<KafkaRecord<byte[]?, byte[]>> block,
        ShutdownSignal shutdown,
        TopicVerifier? verifier,
        RecordReader reader)
    {
        var stopwatch = Stopwatch.StartNew();
        InputEnd end;
        Exception? completionError = null;
        using (shutdown.Stopping.Register(() => _reporter.Line(StoppingMessage(shutdown.FirstSignal))))
        using (shutdown.Aborting.Register(() =>
        {
            // A second signal after the pipeline finished aborts nothing (it may cancel --verify).
            if (!block.Completion.IsCompleted)
            {
                Volatile.Write(ref _abortRequested, true);
                _reporter.Line(AbortingMessage(shutdown.SecondSignal));
                ((IDataflowBlock)block).Fault(new OperationCanceledException($"Aborted by a second {ShutdownSignal.Describe(shutdown.SecondSignal)}."));
            }
        }))
        {
            await using (Progress.Start(_reporter, () => DescribeProgress(block.GetStatistics(), stopwatch.Elapsed), TimeProvider.System).ConfigureAwait(false))
            {
                try
                {
                    end = await PumpAsync(reader, block, shutdown.Stopping).ConfigureAwait(false);
                }
#pragma warning disable CA1031 // The input broke (an I/O error, a bug): stop reading, and still drain what was accepted.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    ReportUnexpected(ex, "reading the input", "no more input is read, and what was accepted is drained.");
                    end = InputEnd.Failed;
                }

                block.Complete();
                try
                {
                    await block.Completion.ConfigureAwait(false);
                }
#pragma warning disable CA1031 // Whatever the completion ends with, the counts tell what happened and the summary comes.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    // BatchProducerException or a cancellation: the records were handed back through the callbacks.
                    completionError = ex;
                    if (ex is not (BatchProducerException or OperationCanceledException))
                    {
                        ReportUnexpected(ex, "the pipeline", "its counts are reported as they stand.");
                    }
                }
            }
        }

        stopwatch.Stop();
        BatchProducerStatistics stats = block.GetStatistics();
        long malformed = Interlocked.Read(ref _malformed);
        long refused = Interlocked.Read(ref _refused);
        var summary = new Summary(
            stats.Accepted + malformed + refused,
            stats.Delivered,
            stats.Failed + malformed,
            stats.Abandoned + refused,
            stats.Batches,
            stopwatch.Elapsed);

        var rows = new List<(string, string)>
        {
            ("topic", _settings.Topic + (_settings.BootstrapServers is null ? " (embedded mock cluster)" : string.Empty)),
            ("input", DescribeInput(end)),
        };
        if (malformed > 0)
        {
            rows.Add(("malformed", $"{Summary.Count(malformed)} line(s), counted as failed"));
        }

        await WriteAbandonedFileAsync(rows).ConfigureAwait(false);

        bool verifyFailed = false;
        bool verifyCanceled = false;
        if (verifier is not null)
        {
            (verifyFailed, verifyCanceled, string verdict) = await VerifyAsync(verifier, summary, shutdown).ConfigureAwait(false);
            rows.Add(("verify", verdict));
        }

        await ReportAsync(summary, rows).ConfigureAwait(false);

        return ExitCodes.For(new RunOutcome
        {
            Failed = summary.Failed,
            Abandoned = summary.Abandoned,
            StoppedBy = end == InputEnd.Stopped ? shutdown.FirstSignal ?? PosixSignal.SIGINT : null,
            AbortRequested = Volatile.Read(ref _abortRequested) || end == InputEnd.Refused,
            CompletionError = completionError,
            UnexpectedError = Volatile.Read(ref _unexpectedError),
            VerificationCanceled = verifyCanceled,
            VerificationFailed = verifyFailed,
        });
    }

    /// <summary>What the tool says on the first signal.</summary>
    /// <param name="signal">The signal received.</param>
    /// <returns>The message.</returns>
    internal static string StoppingMessage(PosixSignal? signal) =>
        $"Stopping on {ShutdownSignal.Describe(signal)}: no more input is read; draining what was accepted. " + signal switch
        {
            PosixSignal.SIGINT => "Press Ctrl+C again to abort.",
            null => "Send the signal again to abort.",
            { } other => $"Send {other} again to abort.",
        };

    /// <summary>What the tool says on the second signal.</summary>
    /// <param name="signal">The signal received.</param>
    /// <returns>The message.</returns>
    internal static string AbortingMessage(PosixSignal? signal) =>
        $"Aborting on a second {ShutdownSignal.Describe(signal)}: records not yet delivered are abandoned.";

    private void ReportUnexpected(Exception error, string what, string then)
    {
        Volatile.Write(ref _unexpectedError, true);
        _reporter.Line($"error: {what} failed unexpectedly ({error.GetType().Name}: {error.Message}); {then}");
    }

    private async Task ReportAsync(Summary summary, List<(string, string)> rows)
    {
        _reporter.Line(summary.ToTable(rows));
        await _console.Output.WriteLineAsync(_settings.Json ? summary.ToJson() : summary.ToLine()).ConfigureAwait(false);
        await _console.Output.FlushAsync().ConfigureAwait(false);
    }

    private async Task<RecordReader?> OpenInputAsync(CancellationToken stopping)
    {
        if (_settings.Generate is { } count)
        {
            return new GeneratedRecordReader(count, _settings.Size);
        }

        bool standardInput = _settings.Input == "-";
        Stream stream;
        try
        {
            stream = standardInput
                ? _console.OpenStandardInput()
                : new FileStream(_settings.Input, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            _reporter.Line($"error: cannot open the input file '{_settings.Input}': {ex.Message}");
            return null;
        }

        var lines = new LineReader(stream, readsMayIgnoreCancellation: standardInput);
        try
        {
            return await TextRecordReader.CreateAsync(lines, _settings.Format, _settings.KeyField, stopping).ConfigureAwait(false);
        }
        catch (InputFormatException ex)
        {
            await lines.DisposeAsync().ConfigureAwait(false);
            _reporter.Line($"error: {ex.Message}");
            return null;
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Stopped before the csv header arrived: nothing to produce, but the run still ends with a summary.
            await lines.DisposeAsync().ConfigureAwait(false);
            return new GeneratedRecordReader(0, GeneratedRecordReader.MinimumSize);
        }
    }

    private MockKafkaCluster StartEmbeddedCluster()
    {
        int partitions = _settings.Partitions ?? EmbeddedPartitions();
        MockKafkaCluster cluster = MockKafkaCluster.Start(MockKafkaCluster.DefaultBrokerCount);
        cluster.CreateTopic(_settings.Topic, partitions);
        _reporter.Line(string.Create(
            CultureInfo.InvariantCulture,
            $"No --bootstrap-servers: started an embedded Kafka cluster (librdkafka's mock, {cluster.BrokerCount} brokers) at {cluster.BootstrapServers}, topic '{_settings.Topic}' with {partitions} partitions. It lives only as long as this run."));
        return cluster;
    }

    // librdkafka's mock cluster keeps about 5 MB per partition and drops the oldest records beyond that, so a topic
    // that must hold a whole run (for --verify, or to be read back) gets enough partitions when the size is known.
    private int EmbeddedPartitions()
    {
        const int Default = 4;
        const int Maximum = 256;
        const long BytesPerPartition = 4L * 1024 * 1024;
        const long RecordOverhead = 40;
        long bytes = _settings.Generate is { } count
            ? count * (_settings.Size + RecordOverhead)
            : _settings.Input != "-" && File.Exists(_settings.Input) ? new FileInfo(_settings.Input).Length * 3 / 2 : 0;
        return (int)Math.Clamp((bytes + BytesPerPartition - 1) / BytesPerPartition, Default, Maximum);
    }

    // The single reader: records leave in input order. Returns why the input ended.
    private async Task<InputEnd> PumpAsync(RecordReader reader, BatchProducerBlock<KafkaRecord<byte[]?, byte[]>> block, CancellationToken stopping)
    {
        while (true)
        {
            InputRecord? input;
            try
            {
                input = await reader.ReadAsync(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return InputEnd.Stopped;
            }

            if (input is null)
            {
                return InputEnd.EndOfInput;
            }

            if (input.IsMalformed)
            {
                long malformed = Interlocked.Increment(ref _malformed);
                if (malformed <= MaxReportedMalformed)
                {
                    _reporter.Line(string.Create(CultureInfo.InvariantCulture, $"line {input.LineNumber}: malformed, not produced: {input.Error}"));
                }
                else if (malformed == MaxReportedMalformed + 1)
                {
                    _reporter.Line("(further malformed lines are counted, not shown)");
                }

                if (_settings.Strict)
                {
                    _reporter.Line("--strict: stopping at the first malformed line.");
                    return InputEnd.StrictStop;
                }

                continue;
            }

            var record = new KafkaRecord<byte[]?, byte[]> { Key = input.Key, Value = input.Value };
            _sent?.Add(record.Key, record.Key is null, record.Value);

            // Post takes the record when there is room; otherwise SendAsync waits for room (backpressure). Neither
            // is canceled by a stop request: a record that was read is handed over. Only an aborting pipeline
            // refuses it, and then it is counted abandoned, like the records the pipeline hands back.
            if (!await block.SendAsync(record).ConfigureAwait(false))
            {
                _sent?.Remove(record.Key, record.Key is null, record.Value);
                Interlocked.Increment(ref _refused);
                KeepAbandoned([record]);
                return InputEnd.Refused;
            }
        }
    }

    private void OnFailed(KafkaRecord<byte[]?, byte[]> record, Exception error)
    {
        _sent?.Remove(record.Key, record.Key is null, record.Value);
        long failures = Interlocked.Increment(ref _reportedFailures);
        if (failures <= MaxReportedFailures)
        {
            _reporter.Line($"record failed: {error.Message}");
        }
        else if (failures == MaxReportedFailures + 1)
        {
            _reporter.Line("(further failed records are counted, not shown)");
        }
    }

    private void OnAbandoned(IReadOnlyList<KafkaRecord<byte[]?, byte[]>> records, Exception reason)
    {
        foreach (KafkaRecord<byte[]?, byte[]> record in records)
        {
            _sent?.Remove(record.Key, record.Key is null, record.Value);
        }

        KeepAbandoned(records);
    }

    private void KeepAbandoned(IReadOnlyList<KafkaRecord<byte[]?, byte[]>> records)
    {
        if (_settings.AbandonedFile is null)
        {
            return;
        }

        lock (_abandonedLock)
        {
            foreach (KafkaRecord<byte[]?, byte[]> record in records)
            {
                _abandonedValues.Add(record.Value);
            }
        }
    }

    private async Task WriteAbandonedFileAsync(List<(string, string)> rows)
    {
        if (_settings.AbandonedFile is not { } path)
        {
            return;
        }

        byte[][] values;
        lock (_abandonedLock)
        {
            values = [.. _abandonedValues];
        }

        try
        {
            var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 64 * 1024, useAsync: true);
            await using (file.ConfigureAwait(false))
            {
                foreach (byte[] value in values)
                {
                    await file.WriteAsync(value).ConfigureAwait(false);
                    file.WriteByte((byte)'\n');
                }
            }

            rows.Add(("abandoned file", $"{Summary.Count(values.Length)} record(s) written to {path}"));
        }
#pragma warning disable CA1031 // Any reason the file cannot be written (I/O, access, a bad path) is reported the same way.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _reporter.Line($"error: cannot write the abandoned records to '{path}': {ex.Message}");
            rows.Add(("abandoned file", $"NOT written ({ex.Message})"));
        }
    }

    private async Task<(bool Failed, bool Canceled, string Verdict)> VerifyAsync(TopicVerifier verifier, Summary summary, ShutdownSignal shutdown)
    {
        if (summary.Abandoned > 0)
        {
            return (false, false, "skipped: records were abandoned, and whether they reached Kafka is unknown");
        }

        ContentDigest expected = _sent!;
        var stopwatch = Stopwatch.StartNew();
        VerificationRead read;
        try
        {
            await using (Progress.Start(_reporter, () => $"verifying: {Summary.Count(verifier.RecordsRead)} of {Summary.Count(expected.Count)} records read back", TimeProvider.System).ConfigureAwait(false))
            {
                read = await verifier.FinishAsync(shutdown.Aborting).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            return (false, true, $"canceled by a second {ShutdownSignal.Describe(shutdown.SecondSignal)}");
        }
#pragma warning disable CA1031 // Whatever stops the read-back (Kafka, a timeout, anything else), the verdict is the same.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return (true, false, $"FAILED: the topic could not be read back: {ex.GetType().Name}: {ex.Message}");
        }

        string seconds = stopwatch.Elapsed.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture);
        ContentDigest actual = read.Digest;
        if (read.Appended != expected.Count)
        {
            return (true, false, $"FAILED: the topic grew by {Summary.Count(read.Appended)} records, but {Summary.Count(expected.Count)} were delivered");
        }

        if (read.Missing > 0)
        {
            return (false, false, $"count OK ({Summary.Count(read.Appended)} appended); content of {Summary.Count(read.Missing)} records NOT checked: the broker dropped them (retention) before they were read back. " +
                "The embedded cluster keeps about 5 MB per partition: use more --partitions.");
        }

        if (!actual.Matches(expected))
        {
            return (true, false, $"FAILED: read back {Summary.Count(actual.Count)} records (digest {actual}), but {Summary.Count(expected.Count)} were delivered (digest {expected})");
        }

        return (false, false, $"OK: {Summary.Count(actual.Count)} records read back (the last ones {seconds} s after the drain), content digest {actual} matches");
    }

    private string DescribeInput(InputEnd end) => end switch
    {
        InputEnd.EndOfInput => "read to the end",
        InputEnd.Stopped => "stopped by a signal before the end",
        InputEnd.StrictStop => "stopped at the first malformed line (--strict)",
        InputEnd.Failed => "stopped by an error while reading",
        _ => "stopped: the aborting pipeline refused a record",
    } + (_settings.Generate is null ? $" ({(_settings.Input == "-" ? "standard input" : _settings.Input)}, {_settings.Format.ToString().ToLowerInvariant()})" : " (generated)");

    private string DescribeProgress(BatchProducerStatistics s, TimeSpan elapsed)
    {
        long malformed = Interlocked.Read(ref _malformed);
        double seconds = elapsed.TotalSeconds;
        string rate = seconds > 0 ? Summary.Count((long)(s.Delivered / seconds)) : "0";
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{Summary.Count(s.Accepted + malformed)} read, {Summary.Count(s.Delivered)} delivered, {Summary.Count(s.Failed + malformed)} failed, {Summary.Count(s.InFlight)} in flight, {Summary.Count(s.Batches)} batches | {rate} records/s | {seconds:F1} s");
    }
}
