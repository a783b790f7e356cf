using System.Threading.Tasks.Dataflow;

namespace DataflowProducer.Tests;

// A linked source is user code too: one whose protocol calls throw must not keep the block from completing, and its
// exception must not reach whoever calls Complete() or Fault() (DESIGN 4.14).
public partial class LingerBatchBlockTests
{
    [TestCase(false)]
    [TestCase(true)]
    [CancelAfter(10_000)]
    public async Task CompleteOrFault_PostponedSourceThrowsOnReserve_CompletionStillEnds(bool fault, CancellationToken ct)
    {
        var block = new LingerBatchBlock<int>(new LingerBatchBlockOptions { BatchSize = 2, BoundedCapacity = 2, Linger = Timeout.InfiniteTimeSpan });
        Assert.That(block.Post(1) && block.Post(2), Is.True, "full: the next offer is postponed");
        var source = new ThrowingSource();
        var status = ((ITargetBlock<int>)block).OfferMessage(new DataflowMessageHeader(1), 3, source, consumeToAccept: false);
        Assert.That(status, Is.EqualTo(DataflowMessageStatus.Postponed));

        if (fault)
        {
            Assert.That(() => ((IDataflowBlock)block).Fault(new InvalidOperationException("stop")), Throws.Nothing);
        }
        else
        {
            Assert.That(block.Complete, Throws.Nothing);
            Assert.That(block.TryReceive(out int[]? batch), Is.True, "drain the full batch so Completion can end");
            Assert.That(batch, Is.EqualTo(new[] { 1, 2 }));
        }

        Exception? error = null;
        try
        {
            await block.Completion.WaitAsync(ct);
        }
        catch (InvalidOperationException ex)
        {
            error = ex;
        }

        Assert.Multiple(() =>
        {
            Assert.That(block.Completion.IsCompleted, Is.True);
            Assert.That(source.Reserves, Is.EqualTo(1), "the postponed message was given back");
            Assert.That(error is null, Is.EqualTo(!fault));
        });
    }

    private sealed class ThrowingSource : ISourceBlock<int>
    {
        public int Reserves { get; private set; }

        public Task Completion { get; } = new TaskCompletionSource().Task;

        public void Complete()
        {
        }

        public int ConsumeMessage(DataflowMessageHeader messageHeader, ITargetBlock<int> target, out bool messageConsumed) => throw new NotSupportedException("consume threw");

        public void Fault(Exception exception)
        {
        }

        public IDisposable LinkTo(ITargetBlock<int> target, DataflowLinkOptions linkOptions) => throw new NotSupportedException();

        public void ReleaseReservation(DataflowMessageHeader messageHeader, ITargetBlock<int> target) => throw new NotSupportedException("release threw");

        public bool ReserveMessage(DataflowMessageHeader messageHeader, ITargetBlock<int> target)
        {
            Reserves++;
            throw new NotSupportedException("reserve threw");
        }
    }
}
