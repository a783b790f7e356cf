using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Confluent.Kafka;
using DataflowProducer.Cli.Input;
using DataflowProducer.Cli.Kafka;
using DataflowProducer.Cli.Output;
using DataflowProducer.Cli.Verification;
using DataflowProducer.Kafka;

namespace DataflowProducer.Cli;

/// <summary>One run of <c>produce</c>: input → <see cref="BatchProducerBlock{T}"/> over Kafka → summary.</summary>
/// <remarks>
/// <para>One loop (<see cref="InputPump"/>) reads the input and sends each record to the block in input order; the
/// block batches them, keeps batches in order, and the producer is idempotent (by default), so records keep their
/// input order per key.</para>
/// <para>Shutdown (<see cref="ShutdownResponse"/>): the first signal cancels the read (a read waiting on standard
/// input is left behind), then the block is completed and drained as after the end of the input. The second faults
/// the block: it stops at once and hands back, through <see cref="BatchProducerCallbacks{T}.ItemsAbandoned"/>, every
/// record not yet delivered.</para>
/// <para>The run's parts: <see cref="InputOpener"/>, <see cref="EmbeddedCluster"/>, <see cref="PipelineCallbacks"/>,
/// <see cref="AbandonedRecordsWriter"/>, <see cref="VerificationVerdict"/>; the exit code is
/// <see cref="ExitCodes.For"/> of the <see cref="RunOutcome"/>.</para>
/// </remarks>
internal sealed class ProduceJob
{
    private readonly ProduceSettings _settings;
    private readonly CliConsole _console;
    private readonly Reporter _reporter;
    private readonly JobReport _report;
    private readonly ContentDigest? _sent;
    private readonly AbandonedRecordsWriter _abandoned;
    private bool _pipelineStarted;

    public ProduceJob(ProduceSettings settings, CliConsole console)
    {
        _settings = settings;
        _console = console;
        _reporter = new Reporter(console.Error, console.IsErrorTerminal, settings.Quiet);
        _report = new JobReport(console, _reporter, settings.Json);
        _sent = settings.Verify ? new ContentDigest() : null;
        _abandoned = new AbandonedRecordsWriter(settings.AbandonedFile, _reporter);
    }

    public Task<int> RunAsync() =>
        _report.RunAsync(SetUpAndProduceAsync, () => _pipelineStarted, "setting up the run", "nothing was produced.", ("input", "not read"));

    private async Task<int> SetUpAndProduceAsync()
    {
        ShutdownSignal shutdown = _console.Shutdown;
        RecordReader? reader = await InputOpener.OpenAsync(_settings, _console, _reporter, shutdown.Stopping).ConfigureAwait(false);
        if (reader is null)
        {
            return ExitCodes.BadArguments;
        }

        await using (reader.ConfigureAwait(false))
        {
            using EmbeddedCluster? cluster = _settings.BootstrapServers is null ? EmbeddedCluster.Start(_settings, _reporter) : null;
            string servers = _settings.BootstrapServers ?? cluster!.BootstrapServers;
            ProducerConfig config = _settings.ClientProperties.ToProducerConfig(servers);
            if (_settings.ShowConfig)
            {
                _reporter.Line(ClientProperties.Describe(config));
            }

            if (_settings.EnsureTopic is { } ensure && await TopicEnsuring.EnsureAsync(config, ensure, _reporter, shutdown.Stopping).ConfigureAwait(false) is { } failed)
            {
                await _report.SummaryAsync(Summary.Nothing, [("input", "not read")]).ConfigureAwait(false);
                return failed;
            }

            if (CreatePipeline(config) is not { } block)
            {
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
                    await _report.SummaryAsync(Summary.Nothing, [("input", "not read"), ("verify", VerificationVerdict.CannotStart.Text)]).ConfigureAwait(false);
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

    private BatchProducerBlock<KafkaRecord<byte[]?, byte[]>>? CreatePipeline(ProducerConfig config) => PipelineRun.CreatePipeline(
        config,
        new KafkaSinkOptions<byte[]?, byte[]> { DefaultTopic = _settings.Topic },
        _settings.Pipeline,
        new PipelineCallbacks(_reporter, _sent, _abandoned).ToCallbacks(),
        _reporter);

    // From here on, whatever goes wrong, what was accepted is drained and the summary printed: every step that can
    // throw is guarded, and an unexpected error only stops reading and decides the exit code.
    private async Task<int> ProduceAsync(
        BatchProducerBlock<KafkaRecord<byte[]?, byte[]>> block,
        ShutdownSignal shutdown,
        TopicVerifier? verifier,
        RecordReader reader)
    {
        var stopwatch = Stopwatch.StartNew();
        var pump = new InputPump(reader, block, _settings.Strict, _reporter, _sent, _abandoned);
        InputEnd end;
        Exception? completionError;
        var response = new ShutdownResponse(shutdown, _reporter, block);
        using (response)
        {
            await using (Progress.Start(_reporter, () => PipelineRun.DescribeProgress(block.GetStatistics(), pump.Malformed, stopwatch.Elapsed), TimeProvider.System).ConfigureAwait(false))
            {
                try
                {
                    end = await pump.RunAsync(shutdown.Stopping).ConfigureAwait(false);
                }
#pragma warning disable CA1031 // The input broke (an I/O error, a bug): stop reading, and still drain what was accepted.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    _report.Unexpected(ex, "reading the input", "no more input is read, and what was accepted is drained.");
                    end = InputEnd.Failed;
                }

                completionError = await PipelineRun.CompleteAndDrainAsync(block, ex => _report.Unexpected(ex, "the pipeline", "its counts are reported as they stand.")).ConfigureAwait(false);
            }
        }

        stopwatch.Stop();
        BatchProducerStatistics stats = block.GetStatistics();
        long malformed = pump.Malformed;
        long refused = pump.Refused;
        Summary summary = PipelineRun.Summarize(stats, malformed, refused, stopwatch.Elapsed);

        var rows = new List<(string, string)>
        {
            ("topic", _settings.Topic + (_settings.BootstrapServers is null ? " (embedded mock cluster)" : string.Empty)),
            ("input", DescribeInput(end)),
        };
        if (malformed > 0)
        {
            rows.Add(("malformed", $"{Summary.Count(malformed)} line(s), counted as failed"));
        }

        if (await _abandoned.WriteAsync().ConfigureAwait(false) is { } abandonedRow)
        {
            rows.Add(abandonedRow);
        }

        VerificationVerdict? verdict = null;
        if (verifier is not null)
        {
            verdict = await VerificationVerdict.ReachAsync(verifier, _sent!, summary.Abandoned, shutdown, _reporter).ConfigureAwait(false);
            rows.Add(("verify", verdict.Text));
        }

        await _report.SummaryAsync(summary, rows).ConfigureAwait(false);

        return ExitCodes.For(new RunOutcome
        {
            Failed = summary.Failed,
            Abandoned = summary.Abandoned,
            StoppedBy = end == InputEnd.Stopped ? shutdown.FirstSignal ?? PosixSignal.SIGINT : null,
            AbortRequested = response.AbortRequested || end == InputEnd.Refused,
            CompletionError = completionError,
            UnexpectedError = _report.UnexpectedError,
            VerificationCanceled = verdict?.Canceled ?? false,
            VerificationFailed = verdict?.Failed ?? false,
        });
    }

    private string DescribeInput(InputEnd end) => end switch
    {
        InputEnd.EndOfInput => "read to the end",
        InputEnd.Stopped => "stopped by a signal before the end",
        InputEnd.StrictStop => "stopped at the first malformed line (--strict)",
        InputEnd.Failed => "stopped by an error while reading",
        _ => "stopped: the aborting pipeline refused a record",
    } + (_settings.Generate is null ? $" ({(_settings.Input == "-" ? "standard input" : _settings.Input)}, {_settings.Format.ToString().ToLowerInvariant()})" : " (generated)");
}
