namespace DataflowProducer;

/// <summary>How a <see cref="BatchProducerBlock{T}"/> hands items back: each failed item once, with its error, and
/// every abandoned item once; and, for those who ask, the delivered ones.</summary>
/// <typeparam name="T">The type of the items.</typeparam>
/// <remarks>Callbacks run on the pipeline's own threads, one at a time and in acknowledgement order. They should
/// return quickly: every hand-back happens before <see cref="System.Threading.Tasks.Dataflow.IDataflowBlock.Completion"/>
/// finishes, so a callback that never returns holds it. An exception thrown by a callback is logged and does not stop
/// the pipeline; a callback may call <c>Complete()</c> or <c>Fault()</c> on the block.</remarks>
public sealed class BatchProducerCallbacks<T>
{
    /// <summary>Gets or sets the callback for items the sink acknowledged as delivered, once per batch, in order.</summary>
    /// <value>The default is null: nothing is built for it. For where each item landed, use
    /// <see cref="BatchProducerBlock{T}.Outcomes"/>.</value>
    public Action<IReadOnlyList<T>>? ItemsDelivered { get; set; }

    /// <summary>Gets or sets the callback for an item the sink reported failed, with the error.</summary>
    /// <value>The default is null: failures are still counted, logged, and summarized by the completion exception.</value>
    public Action<T, Exception>? ItemFailed { get; set; }

    /// <summary>Gets or sets the callback for items the pipeline will never deliver (aborted, drain timed out, sink
    /// broken), with the reason. Called once per group of items, in acceptance order within the group; every item of a
    /// group is either not sent or unknown, as <see cref="ItemsNotSent"/> and <see cref="ItemsUnknown"/> tell apart.</summary>
    /// <value>The default is null: the items are still on <see cref="BatchProducerException{T}.AbandonedItems"/>.</value>
    public Action<IReadOnlyList<T>, Exception>? ItemsAbandoned { get; set; }

    /// <summary>Gets or sets the callback for abandoned items the sink was never given (<see cref="OutcomeStatus.NotSent"/>):
    /// safe to send again. Called for the same groups as <see cref="ItemsAbandoned"/>, after it.</summary>
    /// <value>The default is null.</value>
    public Action<IReadOnlyList<T>, Exception>? ItemsNotSent { get; set; }

    /// <summary>Gets or sets the callback for abandoned items the sink was given but whose outcome stayed unknown
    /// (<see cref="OutcomeStatus.Unknown"/>): sending them again may duplicate them. Called for the same groups as
    /// <see cref="ItemsAbandoned"/>, after it.</summary>
    /// <value>The default is null.</value>
    public Action<IReadOnlyList<T>, Exception>? ItemsUnknown { get; set; }
}
