namespace DataflowProducer;

/// <summary>The outcome of one batch: every item not listed as failed, abandoned or not sent was delivered.</summary>
public sealed class BatchResult
{
    private BatchResult(IReadOnlyList<BatchItemError> failed, IReadOnlyList<int> abandoned, IReadOnlyList<int> notSent, IReadOnlyList<DeliveryReceipt>? receipts)
    {
        Failed = failed;
        Abandoned = abandoned;
        NotSent = notSent;
        Receipts = receipts;
    }

    /// <summary>Gets the result of a batch whose items were all delivered.</summary>
    public static BatchResult AllDelivered { get; } = new([], [], [], null);

    /// <summary>Gets the items that failed, each with its error.</summary>
    public IReadOnlyList<BatchItemError> Failed { get; }

    /// <summary>Gets the indexes of items whose outcome the sink will never know (for example handed to a client that
    /// still held them when a flush timed out). They are handed back as abandoned with the status
    /// <see cref="OutcomeStatus.Unknown"/>: sending them again may duplicate them.</summary>
    public IReadOnlyList<int> Abandoned { get; }

    /// <summary>Gets the indexes of items the sink never passed on (for example still waiting for room in the client's
    /// queue when the pipeline was aborted). They are handed back as abandoned with the status
    /// <see cref="OutcomeStatus.NotSent"/>: safe to send again.</summary>
    public IReadOnlyList<int> NotSent { get; }

    /// <summary>Gets where delivered items landed, indexed like the batch; null when the sink does not say. Entries for
    /// items that were not delivered are ignored.</summary>
    public IReadOnlyList<DeliveryReceipt>? Receipts { get; }

    /// <summary>Creates a result with failed and abandoned items.</summary>
    /// <param name="failed">The failed items; null for none.</param>
    /// <param name="abandoned">The indexes of items whose outcome is unknown; null for none.</param>
    /// <returns>The result.</returns>
    /// <exception cref="ArgumentException">An index appears twice, or an error is null.</exception>
    public static BatchResult Create(IEnumerable<BatchItemError>? failed, IEnumerable<int>? abandoned = null) => Create(failed, abandoned, null, null);

    /// <summary>Creates a result with failed, abandoned and not-sent items, and optionally where the delivered ones landed.</summary>
    /// <param name="failed">The failed items; null for none.</param>
    /// <param name="abandoned">The indexes of items handed on whose outcome is unknown; null for none.</param>
    /// <param name="notSent">The indexes of items never handed on; null for none.</param>
    /// <param name="receipts">Where each delivered item landed, indexed like the batch; null when not known.</param>
    /// <returns>The result.</returns>
    /// <exception cref="ArgumentException">An index appears twice, or an error is null.</exception>
    public static BatchResult Create(IEnumerable<BatchItemError>? failed, IEnumerable<int>? abandoned, IEnumerable<int>? notSent, IReadOnlyList<DeliveryReceipt>? receipts = null)
    {
        BatchItemError[] failures = failed?.ToArray() ?? [];
        int[] unknown = abandoned?.ToArray() ?? [];
        int[] unsent = notSent?.ToArray() ?? [];
        if (failures.Length == 0 && unknown.Length == 0 && unsent.Length == 0 && receipts is null)
        {
            return AllDelivered;
        }

        var seen = new HashSet<int>();
        foreach (BatchItemError failure in failures)
        {
            if (failure.Error is null)
            {
                throw new ArgumentException($"The failure for index {failure.Index} has no error.", nameof(failed));
            }

            if (!seen.Add(failure.Index))
            {
                throw new ArgumentException($"Index {failure.Index} is reported more than once.", nameof(failed));
            }
        }

        CheckUnique(unknown, seen, nameof(abandoned));
        CheckUnique(unsent, seen, nameof(notSent));
        return new BatchResult(failures, unknown, unsent, receipts);
    }

    private static void CheckUnique(int[] indexes, HashSet<int> seen, string paramName)
    {
        foreach (int index in indexes)
        {
            if (!seen.Add(index))
            {
                throw new ArgumentException($"Index {index} is reported more than once.", paramName);
            }
        }
    }
}
