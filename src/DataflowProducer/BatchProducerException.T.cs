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
        : base(message, innerException)
    {
        FailedItems = failedItems;
        AbandonedItems = abandonedItems;
    }

    /// <summary>Gets the items that failed, each with its error, in acknowledgement order.</summary>
    public IReadOnlyList<KeyValuePair<T, Exception>> FailedItems { get; }

    /// <summary>Gets the items that were abandoned: never delivered by this pipeline, handed back to the caller.</summary>
    public IReadOnlyList<T> AbandonedItems { get; }
}
