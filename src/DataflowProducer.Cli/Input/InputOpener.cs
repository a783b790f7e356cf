using DataflowProducer.Cli.Output;

namespace DataflowProducer.Cli.Input;

/// <summary>Opens the run's input: the generator, the input file, or standard input, with the format's reader.</summary>
internal static class InputOpener
{
    /// <summary>Opens the input and, for csv, reads its header.</summary>
    /// <param name="settings">The run's settings: <c>--generate</c>, <c>--input</c>, <c>--format</c>, <c>--key-field</c>.</param>
    /// <param name="console">Where standard input comes from.</param>
    /// <param name="reporter">Where an input that cannot be opened is reported.</param>
    /// <param name="stopping">The first signal: stops waiting for the csv header.</param>
    /// <returns>The reader; or null when the input cannot be opened or its csv header is bad (bad arguments, reported).</returns>
    public static async Task<RecordReader?> OpenAsync(ProduceSettings settings, CliConsole console, Reporter reporter, CancellationToken stopping)
    {
        if (settings.Generate is { } count)
        {
            return new GeneratedRecordReader(count, settings.Size);
        }

        bool standardInput = settings.Input == "-";
        Stream stream;
        try
        {
            stream = standardInput
                ? console.OpenStandardInput()
                : new FileStream(settings.Input, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            reporter.Line($"error: cannot open the input file '{settings.Input}': {ex.Message}");
            return null;
        }

        var lines = new LineReader(stream, readsMayIgnoreCancellation: standardInput);
        try
        {
            return await TextRecordReader.CreateAsync(lines, settings.Format, settings.KeyField, stopping).ConfigureAwait(false);
        }
        catch (InputFormatException ex)
        {
            await lines.DisposeAsync().ConfigureAwait(false);
            reporter.Line($"error: {ex.Message}");
            return null;
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Stopped before the csv header arrived: nothing to produce, but the run still ends with a summary.
            await lines.DisposeAsync().ConfigureAwait(false);
            return new GeneratedRecordReader(0, GeneratedRecordReader.MinimumSize);
        }
    }
}
