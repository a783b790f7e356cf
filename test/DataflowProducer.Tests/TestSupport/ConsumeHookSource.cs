using System.Threading.Tasks.Dataflow;

namespace DataflowProducer.Tests.TestSupport;

/// <summary>
/// A source with one message whose <c>ConsumeMessage</c> runs a hook before handing the message over, so a test can
/// act (fault, complete, throw) while a block is fetching the item. It can be reserved until it is consumed.
/// </summary>
internal sealed class ConsumeHookSource(int value, Action onConsume) : ISourceBlock<int>
{
    public bool Consumed { get; private set; }

    public Task Completion { get; } = new TaskCompletionSource().Task;

    public int ConsumeMessage(DataflowMessageHeader messageHeader, ITargetBlock<int> target, out bool messageConsumed)
    {
        onConsume();
        Consumed = true;
        messageConsumed = true;
        return value;
    }

    public bool ReserveMessage(DataflowMessageHeader messageHeader, ITargetBlock<int> target) => !Consumed;

    public void ReleaseReservation(DataflowMessageHeader messageHeader, ITargetBlock<int> target)
    {
    }

    public IDisposable LinkTo(ITargetBlock<int> target, DataflowLinkOptions linkOptions) => throw new NotSupportedException();

    public void Complete()
    {
    }

    public void Fault(Exception exception)
    {
    }
}
