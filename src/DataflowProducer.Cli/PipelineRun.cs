using System.Globalization;
using Confluent.Kafka;
using DataflowProducer.Cli.Output;
using DataflowProducer.Kafka;

namespace DataflowProducer.Cli;

/// <summary>The steps of a run that every pipeline command takes alike (<see cref="ProduceJob"/>,
/// <see cref="CopyJob"/>): building the producer block, draining it, the progress line, and the summary.</summary>
internal static class PipelineRun
{
    /// <summary>Builds the producer block; null when the Kafka sink rejects the configuration (reported: bad
    /// arguments, nothing was started).</summary>
    /// <param name="config">The producer configuration.</param>
    /// <param name="sinkOptions">The sink's options.</param>
    /// <param name="options">The pipeline's options.</param>
    /// <param name="callbacks">The pipeline's callbacks.</param>
    /// <param name="reporter">Where a rejected configuration is reported, and the loggers write.</param>
    /// <returns>The block, or null.</returns>
    public static BatchProducerBlock<KafkaRecord<byte[]?, byte[]>>? CreatePipeline(
        ProducerConfig config,
        KafkaSinkOptions<byte[]?, byte[]> sinkOptions,
        BatchProducerOptions options,
        BatchProducerCallbacks<KafkaRecord<byte[]?, byte[]>> callbacks,
        Reporter reporter)
    {
        try
        {
            return KafkaProducerBlock.Create(config, sinkOptions, options, callbacks, new ReporterLoggerFactory(reporter));
        }
        catch (ArgumentException ex)
        {
            // The sink throws ArgumentException for a setting the client rejects, naming the key as the user wrote it
            // (-X acks=..., not the client's request.required.acks), and for a bad pipeline option; the topic name
            // was checked while parsing.
            reporter.Line($"error: the Kafka producer could not be set up: {WithoutParameterName(ex)}");
            return null;
        }
    }

    /// <summary>An <see cref="ArgumentException"/>'s message without the .NET parameter name it appends, which means
    /// nothing on the command line.</summary>
    /// <param name="error">The exception.</param>
    /// <returns>The message.</returns>
    public static string WithoutParameterName(ArgumentException error) =>
        error.ParamName is { } parameter ? error.Message.Replace($" (Parameter '{parameter}')", string.Empty, StringComparison.Ordinal) : error.Message;

    /// <summary>Completes the block and waits for its completion, whatever it ends with.</summary>
    /// <param name="block">The block.</param>
    /// <param name="reportUnexpected">Reports an error that is neither an abort nor failed records.</param>
    /// <returns>The exception the completion ended with, or null when it succeeded. A
    /// <see cref="BatchProducerException"/> or a cancellation handed its records back through the callbacks.</returns>
    public static async Task<Exception?> CompleteAndDrainAsync(BatchProducerBlock<KafkaRecord<byte[]?, byte[]>> block, Action<Exception> reportUnexpected)
    {
        block.Complete();
        try
        {
            await block.Completion.ConfigureAwait(false);
            return null;
        }
#pragma warning disable CA1031 // Whatever the completion ends with, the counts tell what happened and the summary comes.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            if (ex is not (BatchProducerException or OperationCanceledException))
            {
                reportUnexpected(ex);
            }

            return ex;
        }
    }

    /// <summary>The summary of a drained pipeline.</summary>
    /// <param name="stats">The block's final statistics.</param>
    /// <param name="malformed">Records read that were never sent, counted failed.</param>
    /// <param name="refused">Records the aborting pipeline refused, counted abandoned (not sent).</param>
    /// <param name="elapsed">The run's time.</param>
    /// <returns>The summary, where accepted = delivered + failed + abandoned.</returns>
    public static Summary Summarize(BatchProducerStatistics stats, long malformed, long refused, TimeSpan elapsed) => new(
        stats.Accepted + malformed + refused,
        stats.Delivered,
        stats.Failed + malformed,
        stats.Abandoned + refused,
        stats.Batches,
        elapsed,
        stats.NotSent + refused,
        stats.Unknown);

    /// <summary>The progress line.</summary>
    /// <param name="s">The block's statistics now.</param>
    /// <param name="malformed">Malformed records so far.</param>
    /// <param name="elapsed">The time so far.</param>
    /// <returns>The text.</returns>
    public static string DescribeProgress(BatchProducerStatistics s, long malformed, TimeSpan elapsed)
    {
        double seconds = elapsed.TotalSeconds;
        string rate = seconds > 0 ? Summary.Count((long)(s.Delivered / seconds)) : "0";
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{Summary.Count(s.Accepted + malformed)} read, {Summary.Count(s.Delivered)} delivered, {Summary.Count(s.Failed + malformed)} failed, {Summary.Count(s.InFlight)} in flight, {Summary.Count(s.Batches)} batches | {rate} records/s | {seconds:F1} s");
    }

    /// <summary>Writes the summary: the table on standard error, the SUMMARY line (or JSON) on standard output.</summary>
    /// <param name="console">The console.</param>
    /// <param name="reporter">Standard error.</param>
    /// <param name="json">True with <c>--json</c>.</param>
    /// <param name="summary">The summary.</param>
    /// <param name="rows">The table's rows after the counts.</param>
    /// <returns>A task that completes when written.</returns>
    public static async Task ReportAsync(CliConsole console, Reporter reporter, bool json, Summary summary, IEnumerable<(string, string)> rows)
    {
        reporter.Line(summary.ToTable(rows));
        await console.Output.WriteLineAsync(json ? summary.ToJson() : summary.ToLine()).ConfigureAwait(false);
        await console.Output.FlushAsync().ConfigureAwait(false);
    }
}
