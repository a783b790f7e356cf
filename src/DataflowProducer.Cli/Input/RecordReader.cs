namespace DataflowProducer.Cli.Input;

/// <summary>Reads records, one at a time, from the input or a generator.</summary>
internal abstract class RecordReader : IAsyncDisposable
{
    /// <summary>Reads the next record.</summary>
    /// <param name="cancellationToken">Stops waiting for input.</param>
    /// <returns>The record (possibly a malformed line), or null at the end of the input.</returns>
    public abstract ValueTask<InputRecord?> ReadAsync(CancellationToken cancellationToken);

    public abstract ValueTask DisposeAsync();
}
