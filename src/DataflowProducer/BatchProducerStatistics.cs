namespace DataflowProducer;

/// <summary>A snapshot of what a <see cref="BatchProducerBlock{T}"/> has done with the items it accepted.</summary>
/// <remarks>Once <see cref="System.Threading.Tasks.Dataflow.IDataflowBlock.Completion"/> has finished,
/// <c>Accepted == Delivered + Failed + Abandoned</c>. Before that, <c>Accepted &gt;= Delivered + Failed + Abandoned + InFlight</c>;
/// the difference is still being batched or waiting to be handed to the sink. In every snapshot the block takes,
/// <c>Abandoned == NotSent + Unknown</c>.</remarks>
/// <param name="Accepted">Items the block accepted (declined offers are not counted).</param>
/// <param name="Batches">Batches handed to the sink (counted as the hand-over starts).</param>
/// <param name="Delivered">Items the sink acknowledged as delivered.</param>
/// <param name="Failed">Items the sink reported failed.</param>
/// <param name="Abandoned">Items that will never be delivered by this block and were handed back: <see cref="NotSent"/>
/// plus <see cref="Unknown"/>.</param>
/// <param name="InFlight">Items handed to the sink whose outcome is not known yet.</param>
public readonly record struct BatchProducerStatistics(long Accepted, long Batches, long Delivered, long Failed, long Abandoned, long InFlight)
{
    /// <summary>Gets the abandoned items the sink was never given: safe to send again.</summary>
    public long NotSent { get; init; }

    /// <summary>Gets the abandoned items the sink was given whose outcome stayed unknown: sending them again may
    /// duplicate them.</summary>
    public long Unknown { get; init; }

    /// <summary>Gets the bytes held now, as <see cref="BatchProducerOptions.ItemSize"/> measures them: accepted items
    /// whose outcome is not known yet. Zero when no bytes setting is set. An abort gives them all back at once (nothing
    /// is accepted after it), so during its settle time batches may still be in flight with no bytes held.</summary>
    public long BytesHeld { get; init; }
}
