using System.Threading.Tasks.Dataflow;

namespace DataflowProducer;

// The handle LinkTo returns. Its state belongs to the owner and is guarded by the owner's lock.
public sealed partial class LingerBatchBlock<T>
{
    private sealed class Link(LingerBatchBlock<T> owner, ITargetBlock<T[]> target, bool propagateCompletion, int maxMessages) : IDisposable
    {
        public ITargetBlock<T[]> Target { get; } = target;

        public bool PropagateCompletion { get; } = propagateCompletion;

        // Guarded by the owner's lock: whether the link is in the owner's list.
        public bool Linked { get; set; }

        // Guarded by the owner's lock: how many more messages the link may carry; DataflowBlockOptions.Unbounded for no limit.
        public int Remaining { get; set; } = maxMessages;

        public void Dispose() => owner.Unlink(this);
    }
}
