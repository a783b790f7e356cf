using System.Diagnostics;
using DataflowProducer.Diagnostics;
using Microsoft.Extensions.Logging;

namespace DataflowProducer.Internal;

/// <summary>
/// The pipeline's accounting (DESIGN 4.9, 4.10, 4.15): the counters, the failed and abandoned items handed back, the
/// first failure, and the exception that summarises them. Every change goes through here, and each one asserts the
/// running invariant <c>Accepted &gt;= Delivered + Failed + Abandoned + InFlight</c>.
/// </summary>
/// <typeparam name="T">The type of the items.</typeparam>
/// <remarks>
/// Counters are Interlocked, so a snapshot never blocks; the hand-back lists are guarded by <c>_handBackLock</c>, held
/// only to add or copy. Callbacks and log lines run outside it: they are user code. Which batch is settled by whom is
/// decided by the pipeline (a batch is claimed once); the ledger only counts what it is told, in the order that keeps
/// the invariant: an item leaves InFlight before it is counted delivered, failed or abandoned.
/// </remarks>
internal sealed class Ledger<T>
{
    private readonly Func<long> _accepted;
    private readonly BatchProducerCallbacks<T>? _callbacks;
    private readonly ILogger _logger;
    private readonly ProducerMetrics _metrics;
    private readonly TagList _tags;

    // Guards _failedItems and _abandonedItems.
    private readonly object _handBackLock = new();
    private readonly List<KeyValuePair<T, Exception>> _failedItems = [];
    private readonly List<T> _abandonedItems = [];
    private readonly List<T> _notSentItems = [];
    private readonly List<T> _unknownItems = [];

    private long _batches;
    private long _delivered;
    private long _failed;
    private long _notSent;
    private long _unknown;
    private long _inFlight;
    private Exception? _firstFailure;

    // accepted: the number of items the pipeline has accepted so far (the batch block counts them).
    public Ledger(Func<long> accepted, BatchProducerCallbacks<T>? callbacks, ILogger logger, ProducerMetrics metrics, TagList tags)
    {
        _accepted = accepted;
        _callbacks = callbacks is null ? null : new BatchProducerCallbacks<T>
        {
            ItemsDelivered = callbacks.ItemsDelivered,
            ItemFailed = callbacks.ItemFailed,
            ItemsAbandoned = callbacks.ItemsAbandoned,
            ItemsNotSent = callbacks.ItemsNotSent,
            ItemsUnknown = callbacks.ItemsUnknown,
        };
        _logger = logger;
        _metrics = metrics;
        _tags = tags;
    }

    /// <summary>The <c>error.type</c> of a failure, as the pipeline's spans and other instruments name it.</summary>
    public Func<Exception, string> ErrorTypeOf { get; init; } = ErrorTypes.Of;

    /// <summary>The first item failure, for the completion exception and FaultPipeline.</summary>
    public Exception? FirstFailure => Volatile.Read(ref _firstFailure);

    /// <summary>True when somebody wants the delivered items themselves (<c>ItemsDelivered</c>).</summary>
    public bool WantsDeliveredItems => _callbacks?.ItemsDelivered is not null;

    /// <summary>A snapshot that keeps the running invariant: outcomes are read before Accepted, so a concurrent
    /// acceptance can only make Accepted larger.</summary>
    public BatchProducerStatistics Snapshot()
    {
        long delivered = Interlocked.Read(ref _delivered);
        long failed = Interlocked.Read(ref _failed);
        long notSent = Interlocked.Read(ref _notSent);
        long unknown = Interlocked.Read(ref _unknown);
        long inFlight = Interlocked.Read(ref _inFlight);
        long batches = Interlocked.Read(ref _batches);
        return new BatchProducerStatistics(_accepted(), batches, delivered, failed, notSent + unknown, inFlight) { NotSent = notSent, Unknown = unknown };
    }

    /// <summary>Items the metrics count as accepted: when their batch is formed, or when the batch block drops them.</summary>
    public void CountAccepted(int count) => ProducerMetrics.Add(_metrics.Accepted, count, _tags);

    /// <summary>A batch is handed to the sink: its items are in flight.</summary>
    public void HandedOver(int count)
    {
        Interlocked.Increment(ref _batches);
        AddInFlight(count);
    }

    /// <summary>A handed-over batch's outcome is being settled: its items leave InFlight, before they are counted.</summary>
    public void Settling(int count) => AddInFlight(-count);

    /// <summary>Delivered items: counted, and handed to <c>ItemsDelivered</c> when given (see <see cref="WantsDeliveredItems"/>).</summary>
    public void Delivered(long count, IReadOnlyList<T>? items = null)
    {
        if (count <= 0)
        {
            return;
        }

        Interlocked.Add(ref _delivered, count);
        ProducerMetrics.Add(_metrics.Delivered, count, _tags);
        AssertInvariant();
        if (items is not null && _callbacks?.ItemsDelivered is { } callback)
        {
            try
            {
                callback(items);
            }
            catch (Exception ex)
            {
                Log.CallbackFailed(_logger, ex, nameof(BatchProducerCallbacks<T>.ItemsDelivered));
            }
        }
    }

    /// <summary>One failed item: counted, logged, kept for the exception and handed to <c>ItemFailed</c>, once.</summary>
    public void Failed(T item, Exception error, long batchNumber, int index)
    {
        Log.ItemFailed(_logger, error, batchNumber, index);
        Interlocked.CompareExchange(ref _firstFailure, error, null);
        lock (_handBackLock)
        {
            _failedItems.Add(new(item, error));
        }

        Interlocked.Increment(ref _failed);
        TagList tags = _tags;
        tags.Add(TelemetryNames.ErrorTypeTag, ErrorTypeOf(error));
        ProducerMetrics.Add(_metrics.Failed, 1, tags);
        AssertInvariant();
        if (_callbacks?.ItemFailed is { } callback)
        {
            try
            {
                callback(item, error);
            }
            catch (Exception ex)
            {
                Log.CallbackFailed(_logger, ex, nameof(BatchProducerCallbacks<T>.ItemFailed));
            }
        }
    }

    /// <summary>Items the pipeline will never deliver, all of one status (not sent or unknown): counted, logged, kept
    /// for the exception and handed to <c>ItemsAbandoned</c> and then <c>ItemsNotSent</c> or <c>ItemsUnknown</c>, once.</summary>
    public void Abandoned(IReadOnlyList<T> items, Exception reason, OutcomeStatus status)
    {
        Debug.Assert(status is OutcomeStatus.NotSent or OutcomeStatus.Unknown, "Abandoned items are either not sent or unknown.");
        if (items.Count == 0)
        {
            return;
        }

        bool notSent = status == OutcomeStatus.NotSent;
        lock (_handBackLock)
        {
            _abandonedItems.AddRange(items);
            (notSent ? _notSentItems : _unknownItems).AddRange(items);
        }

        if (notSent)
        {
            Interlocked.Add(ref _notSent, items.Count);
        }
        else
        {
            Interlocked.Add(ref _unknown, items.Count);
        }

        ProducerMetrics.Add(notSent ? _metrics.NotSent : _metrics.Unknown, items.Count, _tags);
        ProducerMetrics.Add(_metrics.Abandoned, items.Count, _tags);
        AssertInvariant();
        Log.ItemsAbandoned(_logger, items.Count, notSent ? "not sent" : "unknown", reason.Message);
        Invoke(_callbacks?.ItemsAbandoned, items, reason, nameof(BatchProducerCallbacks<T>.ItemsAbandoned));
        Invoke(notSent ? _callbacks?.ItemsNotSent : _callbacks?.ItemsUnknown, items, reason, notSent ? nameof(BatchProducerCallbacks<T>.ItemsNotSent) : nameof(BatchProducerCallbacks<T>.ItemsUnknown));
    }

    /// <summary>The completion exception: the message, the cause, every item handed back, and the final counts.</summary>
    public BatchProducerException<T> ToException(string message, Exception? inner, BatchProducerStatistics statistics)
    {
        KeyValuePair<T, Exception>[] failedItems;
        T[] abandonedItems;
        T[] notSentItems;
        T[] unknownItems;
        lock (_handBackLock)
        {
            failedItems = [.. _failedItems];
            abandonedItems = [.. _abandonedItems];
            notSentItems = [.. _notSentItems];
            unknownItems = [.. _unknownItems];
        }

        Debug.Assert(failedItems.Length == statistics.Failed && abandonedItems.Length == statistics.Abandoned && notSentItems.Length == statistics.NotSent, "The exception carries every item the counts count.");
        return new BatchProducerException<T>(message, inner, failedItems, abandonedItems, notSentItems, unknownItems) { Statistics = statistics };
    }

    private void Invoke(Action<IReadOnlyList<T>, Exception>? callback, IReadOnlyList<T> items, Exception reason, string name)
    {
        if (callback is null)
        {
            return;
        }

        try
        {
            callback(items, reason);
        }
        catch (Exception ex)
        {
            Log.CallbackFailed(_logger, ex, name);
        }
    }

    private void AddInFlight(long delta)
    {
        Interlocked.Add(ref _inFlight, delta);
        ProducerMetrics.Add(_metrics.InFlight, delta, _tags);
        AssertInvariant();
    }

    [Conditional("DEBUG")]
    private void AssertInvariant()
    {
        BatchProducerStatistics s = Snapshot();
        Debug.Assert(s.InFlight >= 0, $"InFlight went negative: {s}");
        Debug.Assert(s.Accepted >= s.Delivered + s.Failed + s.Abandoned + s.InFlight, $"Accepted >= Delivered + Failed + Abandoned + InFlight broken: {s}");
    }
}
