namespace DataflowProducer;

/// <summary>The final outcome of one accepted item.</summary>
/// <typeparam name="T">The type of the items.</typeparam>
/// <param name="Item">The item, as it was posted.</param>
/// <param name="Status">What became of it.</param>
/// <param name="Error">Why it failed, or why it was abandoned; null when delivered.</param>
/// <param name="Receipt">Where it landed, when delivered and the sink reports it; otherwise null.</param>
public readonly record struct ItemOutcome<T>(T Item, OutcomeStatus Status, Exception? Error, DeliveryReceipt? Receipt);
