using System.Collections.Concurrent;
using System.Threading.Tasks.Dataflow;

namespace DataflowProducer.Tests.Conformance;

/// <summary>
/// A target that follows the dataflow protocol whichever way the source offers (with or without
/// <c>consumeToAccept</c>), records every offer, and lets a scenario decide what each offer returns.
/// </summary>
public sealed class ProbeTarget : ITargetBlock<int[]>
{
    private readonly Func<ProbeTarget, Offer, DataflowMessageStatus> _onOffer;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentQueue<long> _offeredIds = new();
    private Exception? _faultedWith;

    public ProbeTarget(Func<ProbeTarget, Offer, DataflowMessageStatus> onOffer) => _onOffer = onOffer;

    /// <summary>The ids of the headers offered so far, in order.</summary>
    public long[] OfferedIds => [.. _offeredIds];

    /// <summary>Every offer, as it arrives; a scenario awaits these instead of sleeping.</summary>
    public BufferBlock<Offer> Offers { get; } = new();

    /// <summary>The batches this target took, as it took them.</summary>
    public BufferBlock<int[]> Received { get; } = new();

    /// <summary>The exception passed to <see cref="Fault"/>, if any.</summary>
    public Exception? FaultedWith => Volatile.Read(ref _faultedWith);

    public Task Completion => _completion.Task;

    public static ProbeTarget Accepting() => new(static (self, offer) => self.Take(offer));

    public static ProbeTarget Declining() => new(static (_, _) => DataflowMessageStatus.Declined);

    public static ProbeTarget Postponing() => new(static (_, _) => DataflowMessageStatus.Postponed);

    /// <summary>Reserves the first batch offered and postpones it; declines every later offer (the same batch offered
    /// again after the release included).</summary>
    public static ProbeTarget ReservingTheFirstOffer()
    {
        int offers = 0;
        return new((self, offer) =>
            Interlocked.Increment(ref offers) == 1 && offer.Source!.ReserveMessage(offer.Header, self)
                ? DataflowMessageStatus.Postponed
                : DataflowMessageStatus.Declined);
    }

    public DataflowMessageStatus OfferMessage(DataflowMessageHeader messageHeader, int[] messageValue, ISourceBlock<int[]>? source, bool consumeToAccept)
    {
        var offer = new Offer(messageHeader, messageValue, source, consumeToAccept);
        _offeredIds.Enqueue(messageHeader.Id);
        Offers.Post(offer);
        return _onOffer(this, offer);
    }

    /// <summary>Takes the offered batch the way the protocol says: consume it when asked to, accept it otherwise.</summary>
    public DataflowMessageStatus Take(Offer offer)
    {
        int[] batch = offer.Value;
        if (offer.ConsumeToAccept)
        {
            int[]? consumed = offer.Source!.ConsumeMessage(offer.Header, this, out bool ok);
            if (!ok)
            {
                return DataflowMessageStatus.NotAvailable;
            }

            batch = consumed!;
        }

        Received.Post(batch);
        return DataflowMessageStatus.Accepted;
    }

    public void Complete() => _completion.TrySetResult();

    public void Fault(Exception exception)
    {
        Volatile.Write(ref _faultedWith, exception);
        _completion.TrySetException(exception);
    }

    public readonly record struct Offer(DataflowMessageHeader Header, int[] Value, ISourceBlock<int[]>? Source, bool ConsumeToAccept);
}
