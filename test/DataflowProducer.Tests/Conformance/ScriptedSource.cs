using System.Threading.Tasks.Dataflow;

namespace DataflowProducer.Tests.Conformance;

/// <summary>
/// A source that offers nothing by itself and answers <see cref="ISourceBlock{T}.ConsumeMessage"/> the way a scenario
/// says (for example "the message is gone" or "throw"), so a block's target side can be offered with
/// <c>consumeToAccept: true</c> against a source that does not hand the item over.
/// </summary>
public sealed class ScriptedSource(Func<DataflowMessageHeader, (bool Consumed, int Value)> consume) : ISourceBlock<int>
{
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Completion => _completion.Task;

    /// <summary>A source whose every message has already gone to someone else.</summary>
    public static ScriptedSource Gone() => new(static _ => (false, 0));

    public int ConsumeMessage(DataflowMessageHeader messageHeader, ITargetBlock<int> target, out bool messageConsumed)
    {
        (messageConsumed, int value) = consume(messageHeader);
        return value;
    }

    public bool ReserveMessage(DataflowMessageHeader messageHeader, ITargetBlock<int> target) => false;

    public void ReleaseReservation(DataflowMessageHeader messageHeader, ITargetBlock<int> target) =>
        throw new InvalidOperationException("Nothing is reserved.");

    public IDisposable LinkTo(ITargetBlock<int> target, DataflowLinkOptions linkOptions) => throw new NotSupportedException();

    public void Complete() => _completion.TrySetResult();

    public void Fault(Exception exception) => _completion.TrySetException(exception);
}
