using DataflowProducer.Kafka;

namespace DataflowProducer.Cli.Output;

/// <summary><c>--abandoned-file</c>: keeps the value of every record the run abandons, and writes them, one per line,
/// when the pipeline is done. Without the option it keeps nothing.</summary>
/// <remarks>Thread-safe: the pipeline's callbacks and the reader loop keep records while the other runs.</remarks>
internal sealed class AbandonedRecordsWriter
{
    private readonly string? _path;
    private readonly Reporter _reporter;
    private readonly Lock _lock = new();

    // Guarded by _lock.
    private readonly List<byte[]> _values = [];

    /// <summary>Initializes a writer.</summary>
    /// <param name="path">The <c>--abandoned-file</c>, or null without it.</param>
    /// <param name="reporter">Where a file that cannot be written is reported.</param>
    public AbandonedRecordsWriter(string? path, Reporter reporter)
    {
        _path = path;
        _reporter = reporter;
    }

    /// <summary>Keeps abandoned records, to be written.</summary>
    /// <param name="records">The records.</param>
    public void Keep(IReadOnlyList<KafkaRecord<byte[]?, byte[]>> records)
    {
        if (_path is null)
        {
            return;
        }

        lock (_lock)
        {
            foreach (KafkaRecord<byte[]?, byte[]> record in records)
            {
                _values.Add(record.Value);
            }
        }
    }

    /// <summary>Writes the records kept so far to the file (replacing it), even when there are none.</summary>
    /// <returns>The summary table's row about the file, or null without <c>--abandoned-file</c>. A file that cannot
    /// be written is reported, and said so in the row; it never throws.</returns>
    public async Task<(string Name, string Value)?> WriteAsync()
    {
        if (_path is not { } path)
        {
            return null;
        }

        byte[][] values;
        lock (_lock)
        {
            values = [.. _values];
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

            return ("abandoned file", $"{Summary.Count(values.Length)} record(s) written to {path}");
        }
#pragma warning disable CA1031 // Any reason the file cannot be written (I/O, access, a bad path) is reported the same way.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _reporter.Line($"error: cannot write the abandoned records to '{path}': {ex.Message}");
            return ("abandoned file", $"NOT written ({ex.Message})");
        }
    }
}
