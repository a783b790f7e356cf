using System.Collections;

namespace DataflowProducer;

/// <summary>The outcomes of one batch's items, in acceptance order: what <see cref="BatchProducerBlock{T}.Outcomes"/>
/// emits, one per batch, batches in acceptance order.</summary>
/// <typeparam name="T">The type of the items.</typeparam>
/// <remarks>Built without copying the items; an <see cref="ItemOutcome{T}"/> is made when it is read. Link through a
/// <c>TransformManyBlock&lt;BatchOutcome&lt;T&gt;, ItemOutcome&lt;T&gt;&gt;(b =&gt; b)</c> for one message per item.</remarks>
public sealed class BatchOutcome<T> : IReadOnlyList<ItemOutcome<T>>
{
    private readonly T[] _items;
    private readonly OutcomeStatus _uniform;
    private readonly OutcomeStatus[]? _statuses;
    private readonly Exception?[]? _errors;
    private readonly Exception? _uniformError;
    private readonly IReadOnlyList<DeliveryReceipt>? _receipts;

    // Every item has the same status (and error).
    internal BatchOutcome(long number, T[] items, OutcomeStatus status, Exception? error, IReadOnlyList<DeliveryReceipt>? receipts = null)
    {
        Number = number;
        _items = items;
        _uniform = status;
        _uniformError = error;
        _receipts = receipts;
        Count = items.Length;
        SetCount(status, items.Length);
    }

    // Item by item; statuses and errors are indexed like items.
    internal BatchOutcome(long number, T[] items, OutcomeStatus[] statuses, Exception?[] errors, IReadOnlyList<DeliveryReceipt>? receipts)
    {
        Number = number;
        _items = items;
        _statuses = statuses;
        _errors = errors;
        _receipts = receipts;
        Count = items.Length;
        foreach (OutcomeStatus status in statuses)
        {
            SetCount(status, 1);
        }
    }

    /// <summary>Gets the batch's number: batches are numbered 1, 2, … in order as the produce stage takes them from the
    /// batch block (a batch abandoned before it reached the sink has its number too). Items abandoned before they
    /// were batched come last, under the number after the last batch.</summary>
    public long Number { get; }

    /// <summary>Gets the number of items.</summary>
    public int Count { get; }

    /// <summary>Gets how many of the items were delivered.</summary>
    public int Delivered { get; private set; }

    /// <summary>Gets how many of the items failed.</summary>
    public int Failed { get; private set; }

    /// <summary>Gets how many of the items were abandoned before the sink was given them.</summary>
    public int NotSent { get; private set; }

    /// <summary>Gets how many of the items were abandoned with their outcome unknown.</summary>
    public int Unknown { get; private set; }

    /// <summary>Gets the items, in acceptance order.</summary>
    public IReadOnlyList<T> Items => _items;

    /// <summary>Gets the outcome of the item at an index.</summary>
    /// <param name="index">The zero-based index in the batch.</param>
    /// <returns>The item's outcome.</returns>
    public ItemOutcome<T> this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)_items.Length, nameof(index));
            OutcomeStatus status = _statuses is null ? _uniform : _statuses[index];
            Exception? error = _errors is null ? _uniformError : _errors[index];
            DeliveryReceipt? receipt = status == OutcomeStatus.Delivered && _receipts is { } receipts && index < receipts.Count ? receipts[index] : null;
            return new ItemOutcome<T>(_items[index], status, error, receipt);
        }
    }

    /// <inheritdoc />
    public IEnumerator<ItemOutcome<T>> GetEnumerator()
    {
        for (int i = 0; i < _items.Length; i++)
        {
            yield return this[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <inheritdoc />
    public override string ToString() => $"BatchOutcome(Number = {Number}, Count = {Count}, Delivered = {Delivered}, Failed = {Failed}, NotSent = {NotSent}, Unknown = {Unknown})";

    private void SetCount(OutcomeStatus status, int count)
    {
        switch (status)
        {
            case OutcomeStatus.Delivered:
                Delivered += count;
                break;
            case OutcomeStatus.Failed:
                Failed += count;
                break;
            case OutcomeStatus.NotSent:
                NotSent += count;
                break;
            default:
                Unknown += count;
                break;
        }
    }
}
