namespace DataflowProducer;

/// <summary>A <see cref="BatchProducerException"/> that carries the items themselves.</summary>
/// <typeparam name="T">The type of the items.</typeparam>
public sealed class BatchProducerException<T> : BatchProducerException
{
    /// <summary>Initializes a new instance.</summary>
    /// <param name="message">The message, with the counts.</param>
    /// <param name="innerException">The cause: the fault, the cancellation, or the first item failure.</param>
    /// <param name="failedItems">The items that failed, with their errors.</param>
    /// <param name="abandonedItems">The items that were abandoned.</param>
    public BatchProducerException(string message, Exception? innerException, IReadOnlyList<KeyValuePair<T, Exception>> failedItems, IReadOnlyList<T> abandonedItems)
        : this(message, innerException, failedItems, abandonedItems, [], abandonedItems)
    {
    }

    /// <summary>Initializes a new instance, with the abandoned items split into not sent and unknown.</summary>
    /// <param name="message">The message, with the counts.</param>
    /// <param name="innerException">The cause: the fault, the cancellation, or the first item failure.</param>
    /// <param name="failedItems">The items that failed, with their errors.</param>
    /// <param name="abandonedItems">The items that were abandoned, both kinds, in the order they were handed back.</param>
    /// <param name="notSentItems">The abandoned items the sink was never given.</param>
    /// <param name="unknownItems">The abandoned items whose outcome stayed unknown.</param>
    public BatchProducerException(string message, Exception? innerException, IReadOnlyList<KeyValuePair<T, Exception>> failedItems, IReadOnlyList<T> abandonedItems, IReadOnlyList<T> notSentItems, IReadOnlyList<T> unknownItems)
        : base(message, innerException)
    {
        FailedItems = failedItems;
        AbandonedItems = abandonedItems;
        NotSentItems = notSentItems;
        UnknownItems = unknownItems;
    }

    /// <summary>Gets the items that failed, each with its error, in acknowledgement order.</summary>
    public IReadOnlyList<KeyValuePair<T, Exception>> FailedItems { get; }

    /// <summary>Gets the items that were abandoned: never delivered by this pipeline, handed back to the caller.</summary>
    public IReadOnlyList<T> AbandonedItems { get; }

    /// <summary>Gets the abandoned items the sink was never given (<see cref="OutcomeStatus.NotSent"/>): safe to send again.</summary>
    public IReadOnlyList<T> NotSentItems { get; }

    /// <summary>Gets the abandoned items whose outcome stayed unknown (<see cref="OutcomeStatus.Unknown"/>): sending them
    /// again may duplicate them.</summary>
    public IReadOnlyList<T> UnknownItems { get; }
}
