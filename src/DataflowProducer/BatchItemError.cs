namespace DataflowProducer;

/// <summary>An item of a batch that failed, by its index in the batch, with the reason.</summary>
/// <param name="Index">The item's zero-based index in the batch handed to <see cref="IBatchSink{T}.AcceptAsync"/>.</param>
/// <param name="Error">Why the item failed.</param>
public readonly record struct BatchItemError(int Index, Exception Error);
