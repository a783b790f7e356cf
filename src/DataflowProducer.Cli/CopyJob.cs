using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Cli.Input;
using DataflowProducer.Cli.Kafka;
using DataflowProducer.Cli.Output;
using DataflowProducer.Kafka;

namespace DataflowProducer.Cli;

/// <summary>One run of <c>copy</c>: <see cref="KafkaConsumerSource{TKey, TValue}"/> → <see cref="BatchProducerBlock{T}"/>
/// over Kafka → its outcomes → <see cref="KafkaOffsetCommitter{T}"/>, then the summary.</summary>
/// <remarks>
/// <para>One loop (<see cref="ConsumePump"/>) takes the consumed records and sends them to the block in consumed
/// order; the block's outcomes, in the same order, feed the committer, which stores a partition's offset only past
/// records that were delivered. So whenever the process dies, the group's committed offsets are never past a record
/// missing from the destination: the next run re-reads from there (duplicating at most what was in flight, plus what
/// was delivered since the last commit).</para>
/// <para>Stopping (<see cref="ShutdownResponse"/>, as for <c>produce</c>): the first signal stops taking records, the
/// source stops consuming, and the block drains; the committer applies the last outcomes, and disposing the source
/// commits the stored offsets and leaves the group. Records the source had consumed but the pump had not taken are
/// not counted and not committed: the next run reads them. The second signal faults the block: what was not delivered
/// is not sent or unknown, holds its partition, and is read again by the next run.</para>
/// </remarks>
internal sealed class CopyJob
{
    // How long the committer may take, after the block's completion, to apply the outcomes it holds.
    private static readonly TimeSpan CommitterGrace = TimeSpan.FromSeconds(30);

    private readonly CopySettings _settings;
    private readonly CliConsole _console;
    private readonly Reporter _reporter;
    private readonly JobReport _report;
    private readonly AbandonedRecordsWriter _abandoned;
    private bool _pipelineStarted;

    public CopyJob(CopySettings settings, CliConsole console)
    {
        _settings = settings;
        _console = console;
        _reporter = new Reporter(console.Error, console.IsErrorTerminal, settings.Quiet);
        _report = new JobReport(console, _reporter, settings.Json);

        // Abandoned records are not written anywhere by copy: they stay in the source topic, uncommitted.
        _abandoned = new AbandonedRecordsWriter(null, _reporter);
    }

    public Task<int> RunAsync() =>
        _report.RunAsync(SetUpAndCopyAsync, () => _pipelineStarted, "setting up the copy", "nothing was copied.", ("from", "not read"));

    private async Task<int> SetUpAndCopyAsync()
    {
        ProducerConfig producerConfig = _settings.ClientProperties.ToProducerConfig(_settings.BootstrapServers);
        ConsumerConfig consumerConfig = _settings.ClientProperties.ToConsumerConfig(_settings.BootstrapServers, _settings.Group);
        if (_settings.ShowConfig)
        {
            _reporter.Line(ClientProperties.Describe(producerConfig));
            _reporter.Line(ClientProperties.Describe(consumerConfig, "Consumer configuration"));
        }

        if (producerConfig.Acks is Acks.None or Acks.Leader)
        {
            // Delivered then means "the leader had it" or less: a broker that fails after the commit can lose records
            // the source's offsets have already passed.
            _reporter.Line($"warning: acks={(producerConfig.Acks == Acks.None ? "0" : "1")}: a record counts as delivered before every in-sync replica has it, so a broker failure can lose records whose source offsets are committed; use acks=all for a copy that keeps every record.");
        }

        if (_settings.EnsureTopic is { } ensure && await TopicEnsuring.EnsureAsync(producerConfig, ensure, _reporter, _console.Shutdown.Stopping).ConfigureAwait(false) is { } failed)
        {
            await _report.SummaryAsync(Summary.Nothing, [("from", "not read")]).ConfigureAwait(false);
            return failed;
        }

        BatchProducerBlock<KafkaRecord<byte[]?, byte[]>>? block = PipelineRun.CreatePipeline(
            producerConfig,
            new KafkaSinkOptions<byte[]?, byte[]> { DefaultTopic = _settings.ToTopic },
            _settings.Pipeline,
            new PipelineCallbacks(_reporter, null, _abandoned).ToCallbacks(),
            _reporter);
        if (block is null)
        {
            return ExitCodes.BadArguments;
        }

        KafkaConsumerSource<byte[]?, byte[]?> source;
        try
        {
            source = new KafkaConsumerSource<byte[]?, byte[]?>(
                consumerConfig,
                [_settings.FromTopic],
                new KafkaConsumerSourceOptions<byte[]?, byte[]?>
                {
                    // One batch's worth: what the source holds is consumed and not yet in the pipeline's accounting.
                    BoundedCapacity = _settings.Pipeline.BatchSize,
                    CompleteAtEndOfPartitions = !_settings.Follow,
                    KeyDeserializer = Deserializers.ByteArray,
                    ValueDeserializer = Deserializers.ByteArray,
                },
                new ReporterLoggerFactory(_reporter).CreateLogger("DataflowProducer.Kafka.KafkaConsumerSource"));
        }
        catch (ArgumentException ex)
        {
            _reporter.Line($"error: the Kafka consumer could not be set up: {PipelineRun.WithoutParameterName(ex)}");
            await block.DisposeAsync().ConfigureAwait(false);
            return ExitCodes.BadArguments;
        }

        await using (source.ConfigureAwait(false))
        {
            KafkaOffsetCommitter<KafkaRecord<byte[]?, byte[]>> committer = source.CreateCommitter<byte[]?, byte[]>();
            using (block.Outcomes.LinkTo(committer, new DataflowLinkOptions { PropagateCompletion = true }))
            {
                // A committer that fails is unlinked, and the outcomes it no longer reads would hold the pipeline back
                // until the drain timeout: abort at once instead (nothing past what it stored is committed).
                _ = committer.Completion.ContinueWith(
                    static (task, state) => ((IDataflowBlock)state!).Fault(task.Exception!.InnerException ?? task.Exception),
                    block,
                    CancellationToken.None,
                    TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
                    TaskScheduler.Default);
                _pipelineStarted = true;
                return await CopyAsync(block, source, committer).ConfigureAwait(false);
            }
        }
    }

    // From here on, whatever goes wrong, what was accepted is drained, the committer given its outcomes, and the
    // summary printed.
    private async Task<int> CopyAsync(
        BatchProducerBlock<KafkaRecord<byte[]?, byte[]>> block,
        KafkaConsumerSource<byte[]?, byte[]?> source,
        KafkaOffsetCommitter<KafkaRecord<byte[]?, byte[]>> committer)
    {
        ShutdownSignal shutdown = _console.Shutdown;
        var stopwatch = Stopwatch.StartNew();
        var pump = new ConsumePump(source, block);
        InputEnd end;
        Exception? completionError;
        bool missingSource = false;
        var response = new ShutdownResponse(shutdown, _reporter, block);
        using (response)
        {
            await using (Progress.Start(_reporter, () => PipelineRun.DescribeProgress(block.GetStatistics(), 0, stopwatch.Elapsed), TimeProvider.System).ConfigureAwait(false))
            {
                try
                {
                    end = await pump.RunAsync(shutdown.Stopping).ConfigureAwait(false);
                }
                catch (KafkaException ex) when (ex.Error.Code == ErrorCode.UnknownTopicOrPart)
                {
                    _reporter.Line($"error: the source topic '{_settings.FromTopic}' does not exist on the cluster ({ex.Error.Reason}); check --from-topic.");
                    missingSource = true;
                    end = InputEnd.Failed;
                }
#pragma warning disable CA1031 // The source broke (a fatal client error, a bug): stop reading, and still drain what was accepted.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    _report.Unexpected(ex, "consuming the source topic", "no more records are read, and what was accepted is drained.");
                    end = InputEnd.Failed;
                }

                source.Complete();
                completionError = await PipelineRun.CompleteAndDrainAsync(block, ex => _report.Unexpected(ex, "the pipeline", "its counts are reported as they stand.")).ConfigureAwait(false);
                await WaitForCommitterAsync(committer).ConfigureAwait(false);
            }
        }

        stopwatch.Stop();
        BatchProducerStatistics stats = block.GetStatistics();
        Summary summary = PipelineRun.Summarize(stats, 0, pump.Refused, stopwatch.Elapsed);
        var rows = new List<(string, string)>
        {
            ("from", $"{_settings.FromTopic} (group {_settings.Group})"),
            ("to", _settings.ToTopic),
            ("input", DescribeInput(end)),
            ("offsets", $"{Summary.Count(committer.Completed)} record(s) final, {Summary.Count(committer.Blocked)} holding their partition back (read again by the next run)"),
        };

        await _report.SummaryAsync(summary, rows).ConfigureAwait(false);
        if (missingSource && summary.Accepted == 0)
        {
            // Nothing was copied, as for any other argument the cluster proves wrong.
            return ExitCodes.BadArguments;
        }

        return ExitCodes.For(new RunOutcome
        {
            Failed = summary.Failed,
            Abandoned = summary.Abandoned,
            StoppedBy = end == InputEnd.Stopped ? shutdown.FirstSignal ?? PosixSignal.SIGINT : null,
            AbortRequested = response.AbortRequested || end == InputEnd.Refused,
            CompletionError = completionError,
            UnexpectedError = _report.UnexpectedError,
        });
    }

    // The block's completion completes its outcomes and, through the link, the committer; a committer that does not
    // finish in time only means fewer offsets committed now (read again, never lost).
    private async Task WaitForCommitterAsync(KafkaOffsetCommitter<KafkaRecord<byte[]?, byte[]>> committer)
    {
        try
        {
            await committer.Completion.WaitAsync(CommitterGrace).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _reporter.Line("warning: the offset committer did not finish in time; the offsets it had not stored are read again by the next run.");
        }
        catch (Exception) when (committer.Completion.IsFaulted || committer.Completion.IsCanceled)
        {
            // Faulted with the pipeline (an abort): what it stored stands, the rest is read again by the next run.
        }
    }

    private static string DescribeInput(InputEnd end) => end switch
    {
        InputEnd.EndOfInput => "read to the end of every partition",
        InputEnd.Stopped => "stopped by a signal",
        InputEnd.Failed => "stopped by an error while consuming",
        _ => "stopped: the aborting pipeline refused a record",
    };
}
