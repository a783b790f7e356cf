using System.Threading.Tasks.Dataflow;
using DataflowProducer.Internal;

namespace DataflowProducer;

/// <summary>
/// Options for <see cref="LingerBatchBlock{T}"/>. The block copies them when it is constructed, so later changes
/// to an instance do not affect blocks already built from it.
/// </summary>
public sealed class LingerBatchBlockOptions
{
    /// <summary>Gets or sets the largest number of items in one batch.</summary>
    /// <value>At least 1, and no more than <see cref="BoundedCapacity"/> when that is bounded: a batch must fit in what
    /// the block may hold, so a larger batch needs a larger capacity too. The default is 1000.</value>
    /// <remarks>A batch is emitted, in the same call that adds its last item, as soon as it holds this many items.
    /// With a batch size of 1 every item is its own batch and no timer is ever used.</remarks>
    public int BatchSize { get; set; } = Defaults.BatchSize;

    /// <summary>Gets or sets the longest time the oldest item of the open batch waits before the batch is emitted.</summary>
    /// <value>Greater than zero, or <see cref="Timeout.InfiniteTimeSpan"/> for count-only batching.
    /// The default is 50 ms.</value>
    /// <remarks>This is Kafka's <c>linger.ms</c>: a maximum age measured from the item that opened the batch, not a
    /// debounce. Later items never move the deadline, so a steady trickle still produces a batch at least every
    /// <see cref="Linger"/>.</remarks>
    public TimeSpan Linger { get; set; } = Defaults.Linger;

    /// <summary>Gets or sets the most items the block holds at once: the open batch plus emitted batches that no
    /// target has taken yet.</summary>
    /// <value><see cref="DataflowBlockOptions.Unbounded"/> (-1), or at least <see cref="BatchSize"/>.
    /// The default is <see cref="DataflowBlockOptions.Unbounded"/>.</value>
    /// <remarks>When the block is full, offers from sources are postponed and taken in order once room frees;
    /// <c>Post</c> is declined.</remarks>
    public int BoundedCapacity { get; set; } = DataflowBlockOptions.Unbounded;

    /// <summary>Gets or sets a token that cancels the block: buffered items are dropped (see
    /// <see cref="LingerBatchBlock{T}.DroppedItems"/>) and <see cref="IDataflowBlock.Completion"/> ends canceled.</summary>
    /// <value>The default is <see cref="CancellationToken.None"/>.</value>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>Gets or sets the clock that measures <see cref="Linger"/>.</summary>
    /// <value>The default is <see cref="TimeProvider.System"/>. Tests pass a fake clock.</value>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}
