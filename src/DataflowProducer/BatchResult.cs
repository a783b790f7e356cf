namespace DataflowProducer;

/// <summary>The outcome of one batch: every item not listed as failed or abandoned was delivered.</summary>
public sealed class BatchResult
{
    private BatchResult(IReadOnlyList<BatchItemError> failed, IReadOnlyList<int> abandoned)
    {
        Failed = failed;
        Abandoned = abandoned;
    }

    /// <summary>Gets the result of a batch whose items were all delivered.</summary>
    public static BatchResult AllDelivered { get; } = new([], []);

    /// <summary>Gets the items that failed, each with its error.</summary>
    public IReadOnlyList<BatchItemError> Failed { get; }

    /// <summary>Gets the indexes of items whose outcome the sink will never know (for example still queued when
    /// a flush timed out). They are handed back to the caller as abandoned.</summary>
    public IReadOnlyList<int> Abandoned { get; }

    /// <summary>Creates a result with failed and abandoned items.</summary>
    /// <param name="failed">The failed items; null for none.</param>
    /// <param name="abandoned">The indexes of abandoned items; null for none.</param>
    /// <returns>The result.</returns>
    /// <exception cref="ArgumentException">An index appears twice, or an error is null.</exception>
    public static BatchResult Create(IEnumerable<BatchItemError>? failed, IEnumerable<int>? abandoned = null)
    {
        BatchItemError[] failures = failed?.ToArray() ?? [];
        int[] lost = abandoned?.ToArray() ?? [];
        if (failures.Length == 0 && lost.Length == 0)
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

        foreach (int index in lost)
        {
            if (!seen.Add(index))
            {
                throw new ArgumentException($"Index {index} is reported more than once.", nameof(abandoned));
            }
        }

        return new BatchResult(failures, lost);
    }
}
