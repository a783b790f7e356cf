namespace DataflowProducer.Internal;

/// <summary>A change of the batch limits decided by <see cref="AdaptiveBatching"/>.</summary>
internal readonly record struct BatchLimitsChange(int OldBatchSize, TimeSpan OldLinger, int NewBatchSize, TimeSpan NewLinger, bool Grew, string Reason);
