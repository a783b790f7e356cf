using System.Diagnostics;

namespace DataflowProducer;

// A batch between the batch block and its outcome.
public sealed partial class BatchProducerBlock<T>
{
    private sealed class PendingBatch(T[] batch, long number)
    {
        private const int Waiting = 0;
        private const int HandedOver = 1;
        private const int Claimed = 2;

        // Waiting -> HandedOver (the sink is given the batch) -> Claimed (its outcome is decided), or Waiting -> Claimed
        // (abandoned before the sink saw it). One field, so a claim and the hand-over can never both miss each other.
        private int _state;
        private readonly TaskCompletionSource _settled = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _inSink;

        public T[] Batch { get; } = batch;

        public long Number { get; } = number;

        public Task<BatchResult>? Acknowledgement { get; set; }

        public bool WindowTaken { get; set; }

        public long StartTimestamp { get; set; }

        public Activity? Activity { get; set; }

        // The messaging attributes of this batch's send operation (BatchProducerBlock.Telemetry.cs), built once.
        public KeyValuePair<string, object?>[]? OperationTags { get; set; }

        // Completes once the batch's outcome has been counted and handed back, by whoever claimed it.
        public Task Settled => _settled.Task;

        public void MarkSettled() => _settled.TrySetResult();

        // True while the sink's AcceptAsync has the batch. Interlocked, for EnterSink's fence.
        public bool InSink
        {
            get => Volatile.Read(ref _inSink) != 0;
            set => Interlocked.Exchange(ref _inSink, value ? 1 : 0);
        }

        // Called once, just before the batch goes to the sink; false when it was already claimed (abandoned).
        public bool TryMarkInFlight() => Interlocked.CompareExchange(ref _state, HandedOver, Waiting) == Waiting;

        // The first to claim a batch decides its items' outcome; everybody else leaves it alone. wasInFlight: the
        // batch's items are counted in InFlight and the claimer takes them off.
        public bool TryClaim(out bool wasInFlight)
        {
            int previous = Interlocked.Exchange(ref _state, Claimed);
            wasInFlight = previous == HandedOver;
            return previous != Claimed;
        }
    }
}
