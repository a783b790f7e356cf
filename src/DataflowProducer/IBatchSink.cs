namespace DataflowProducer;

/// <summary>
/// Where <see cref="BatchProducerBlock{T}"/> sends its batches: a Kafka producer, a database bulk insert, a test
/// recorder. Work is split in two phases so that several batches can be on their way at once.
/// </summary>
/// <typeparam name="T">The type of the items.</typeparam>
/// <remarks>
/// <para>
/// <b>Accept</b> (<see cref="AcceptAsync"/>) hands a batch over and returns as soon as the sink has taken it; it may
/// wait for room (for example while a client's queue is full) but should not wait for the outcome. The value it
/// returns is the <b>acknowledgement</b>: a task that completes when every item's outcome is known.
/// </para>
/// <para>
/// The block calls <see cref="AcceptAsync"/> for one batch at a time, in order, and calls <see cref="FlushAsync"/>
/// once per pipeline. A sink reports a failed item in the acknowledgement's <see cref="BatchResult"/>; it throws from
/// <see cref="AcceptAsync"/> only when the whole sink is broken, which stops the pipeline.
/// </para>
/// <para>
/// The block does not trust a sink to return: a sink call that blocks its thread or ignores cancellation cannot hold
/// the block's <see cref="System.Threading.Tasks.Dataflow.IDataflowBlock.Completion"/> past the drain timeout; the
/// batch it holds is abandoned.
/// </para>
/// </remarks>
public interface IBatchSink<T>
{
    /// <summary>Hands a batch to the sink.</summary>
    /// <param name="batch">The items, in order. The sink must not modify them.</param>
    /// <param name="cancellationToken">Canceled when the pipeline is aborted; a sink waiting for room stops waiting.</param>
    /// <returns>Once the batch is handed over: the acknowledgement, a task that completes with the batch's result
    /// when every item's outcome is known.</returns>
    ValueTask<Task<BatchResult>> AcceptAsync(ReadOnlyMemory<T> batch, CancellationToken cancellationToken);

    /// <summary>
    /// Waits, at most <paramref name="timeout"/>, until everything handed over has an outcome. Called once per
    /// pipeline, on a thread-pool thread: after the last batch, with what is left of the drain timeout; or, when the
    /// pipeline is aborted before that, with the settle time (<see cref="BatchProducerOptions.SettleTime"/>), so what the
    /// sink was handed can still report its real outcome. When it returns the sink should have completed every
    /// acknowledgement, marking items it never passed on as not sent (<see cref="BatchResult.NotSent"/>) and items
    /// whose outcome is still unknown as abandoned (<see cref="BatchResult.Abandoned"/>).
    /// </summary>
    /// <param name="timeout">The time left for the flush; may be <see cref="TimeSpan.Zero"/>.</param>
    /// <param name="cancellationToken">Canceled when the pipeline is aborted.</param>
    /// <returns>A task that completes when the flush is over.</returns>
    Task FlushAsync(TimeSpan timeout, CancellationToken cancellationToken);
}
