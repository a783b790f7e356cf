namespace DataflowProducer.Testing;

/// <summary>
/// Ready-made return values for <see cref="IBatchSink{T}.AcceptAsync"/>, so that a substituted or hand-written sink
/// takes one line to set up.
/// </summary>
/// <remarks>
/// <para>With NSubstitute, a sink that accepts and delivers every batch:</para>
/// <code>
/// var sink = Substitute.For&lt;IBatchSink&lt;Order&gt;&gt;();
/// sink.AcceptAsync(default, default).ReturnsForAnyArgs(BatchAcknowledgements.Delivered());
/// </code>
/// <para>A bare substitute returns no acknowledgement (or one with no result), which the pipeline reports as a
/// broken sink. For a fake that also records what it was given, use <see cref="RecordingBatchSink{T}"/>.</para>
/// </remarks>
public static class BatchAcknowledgements
{
    private static readonly Task<BatchResult> DeliveredTask = Task.FromResult(BatchResult.AllDelivered);

    /// <summary>An acknowledgement, already complete, saying every item of the batch was delivered.</summary>
    /// <returns>A completed acknowledgement; the same value may be returned for every call.</returns>
    public static ValueTask<Task<BatchResult>> Delivered() => new(DeliveredTask);

    /// <summary>An acknowledgement, already complete, with the given result.</summary>
    /// <param name="result">The batch's result, for example from <see cref="BatchResult.Create(IEnumerable{BatchItemError}?, IEnumerable{int}?)"/>.</param>
    /// <returns>A completed acknowledgement.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="result"/> is null.</exception>
    public static ValueTask<Task<BatchResult>> Completed(BatchResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return new(Task.FromResult(result));
    }

    /// <summary>An acknowledgement, already complete, saying the items at <paramref name="indexes"/> failed with
    /// <paramref name="error"/> and every other item was delivered.</summary>
    /// <param name="error">The error of each failed item.</param>
    /// <param name="indexes">The positions, in the batch, of the failed items.</param>
    /// <returns>A completed acknowledgement.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="error"/> or <paramref name="indexes"/> is null.</exception>
    /// <exception cref="ArgumentException">An index appears twice.</exception>
    public static ValueTask<Task<BatchResult>> Failed(Exception error, params int[] indexes)
    {
        ArgumentNullException.ThrowIfNull(error);
        ArgumentNullException.ThrowIfNull(indexes);
        return Completed(BatchResult.Create(indexes.Select(index => new BatchItemError(index, error))));
    }
}
