using System.Diagnostics;

namespace DataflowProducer;

// Limits changed at run time (adaptive batching in BatchProducerBlock): the batch size and linger in effect, under the
// one lock. The public BatchSize and Linger stay the configured values. DESIGN §4 points 1-4 hold across a change:
// the open batch keeps the deadline it got when it opened (the new linger applies from the next batch on), a smaller
// size closes an open batch that has reached it at once (that one batch may hold up to the size in effect when it
// filled: it is never cut in two), every later batch keeps the new size, and an infinite linger stays count-only.
public sealed partial class LingerBatchBlock<T>
{
    /// <summary>Gets the batch size in effect now.</summary>
    internal int CurrentBatchSize
    {
        get
        {
            lock (_lock)
            {
                return _batchSize;
            }
        }
    }

    /// <summary>Gets the linger in effect now.</summary>
    internal TimeSpan CurrentLinger
    {
        get
        {
            lock (_lock)
            {
                return _linger;
            }
        }
    }

    /// <summary>Gets a value indicating whether posters are waiting for room (offers postponed while full).</summary>
    internal bool HasWaitingPosters
    {
        get
        {
            lock (_lock)
            {
                return _postponed.Count > 0;
            }
        }
    }

    // Sets the batch size and linger for the batches to come. The owner keeps batchSize within what the constructor's
    // maxBatchSize and BoundedCapacity allow; the linger is ignored for a count-only block.
    internal void SetLimits(int batchSize, TimeSpan linger)
    {
        Debug.Assert(batchSize >= 1 && (_boundedCapacity < 0 || batchSize <= _boundedCapacity), "The batch size fits in the capacity.");
        bool startOffer = false;
        lock (_lock)
        {
            _batchSize = batchSize;
            if (_timer is not null && linger != Timeout.InfiniteTimeSpan)
            {
                _linger = linger;
                _lingerTicks = LingerTicks(linger);
            }

            if (_openCount >= batchSize)
            {
                startOffer = CloseOpenBatch();
            }
        }

        if (startOffer)
        {
            StartOffering();
        }
    }

    private long LingerTicks(TimeSpan linger) =>
        Math.Max((long)(linger.Ticks * (_timeProvider.TimestampFrequency / (double)TimeSpan.TicksPerSecond)), 1);
}
