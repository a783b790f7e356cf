namespace DataflowProducer.Benchmarks;

/// <summary>
/// A sink that takes every batch and acknowledges it at once with one cached, completed task, allocating nothing:
/// what the pipeline allocates over it is the pipeline's own cost. (<c>RecordingBatchSink</c> copies every batch,
/// which is right for tests and wrong here.)
/// </summary>
/// <typeparam name="T">The type of the items.</typeparam>
public sealed class CompletedBatchSink<T> : IBatchSink<T>
{
    private static readonly Task<BatchResult> Delivered = Task.FromResult(BatchResult.AllDelivered);

    private long _items;

    /// <summary>Gets the number of items accepted so far.</summary>
    public long Items => Interlocked.Read(ref _items);

    public ValueTask<Task<BatchResult>> AcceptAsync(ReadOnlyMemory<T> batch, CancellationToken cancellationToken)
    {
        Interlocked.Add(ref _items, batch.Length);
        return new ValueTask<Task<BatchResult>>(Delivered);
    }

    public Task FlushAsync(TimeSpan timeout, CancellationToken cancellationToken) => Task.CompletedTask;
}
