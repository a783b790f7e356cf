using System.Globalization;

namespace DataflowProducer.Internal;

/// <summary>
/// The rule of adaptive batching (documented on <see cref="AdaptiveBatchingOptions"/>): acknowledgements are gathered
/// over a window; a slow window (mean latency at or above the slow threshold, at least half of its acknowledgements
/// under pressure) grows the limits one step, a recovered one (mean latency at or below the recovered threshold) sets
/// them back to the configured floor, never twice within the cool-down.
/// </summary>
/// <remarks>Not thread-safe: the pipeline calls it from its one outcome reporter, in acknowledgement order. It only
/// decides; the caller applies the change to the batch block and reports it.</remarks>
internal sealed class AdaptiveBatching
{
    private readonly AdaptiveBatchingOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly int _floorBatchSize;
    private readonly TimeSpan _floorLinger;

    private int _level;                 // 0: the configured limits; each step multiplies them by the factor
    private long _windowStart;
    private int _count;
    private int _pressured;
    private TimeSpan _latencySum;
    private long? _lastChange;

    public AdaptiveBatching(AdaptiveBatchingOptions options, int batchSize, TimeSpan linger, TimeProvider timeProvider)
    {
        _options = options;
        _timeProvider = timeProvider;
        _floorBatchSize = batchSize;
        _floorLinger = linger;
        BatchSize = batchSize;
        Linger = linger;
        _windowStart = timeProvider.GetTimestamp();
    }

    /// <summary>Gets the batch size in effect.</summary>
    public int BatchSize { get; private set; }

    /// <summary>Gets the linger in effect (infinite for a count-only pipeline).</summary>
    public TimeSpan Linger { get; private set; }

    /// <summary>Takes one acknowledgement into the window; returns the change to apply when the window has passed
    /// and its verdict changes the limits.</summary>
    /// <param name="latency">From handing the batch to the sink to its outcome.</param>
    /// <param name="underPressure">Whether the in-flight window was full or posters were waiting for room.</param>
    public BatchLimitsChange? OnAcknowledged(TimeSpan latency, bool underPressure)
    {
        _count++;
        _latencySum += latency;
        if (underPressure)
        {
            _pressured++;
        }

        long now = _timeProvider.GetTimestamp();
        if (_timeProvider.GetElapsedTime(_windowStart, now) < _options.Window)
        {
            return null;
        }

        TimeSpan mean = _latencySum / _count;
        int count = _count;
        int pressured = _pressured;
        _windowStart = now;
        _count = 0;
        _pressured = 0;
        _latencySum = TimeSpan.Zero;

        if (_lastChange is { } last && _timeProvider.GetElapsedTime(last, now) < _options.CoolDown)
        {
            return null;
        }

        bool slow = mean >= _options.SlowLatency && pressured * 2 >= count;
        if (slow && CanGrow())
        {
            return Change(_level + 1, grew: true, string.Create(CultureInfo.InvariantCulture, $"slow: mean acknowledgement latency {mean.TotalMilliseconds:0.#} ms over {count} batch(es), {pressured} under pressure (slow at {_options.SlowLatency.TotalMilliseconds:0.#} ms)"), now);
        }

        if (mean <= _options.RecoveredLatency && _level > 0)
        {
            return Change(0, grew: false, string.Create(CultureInfo.InvariantCulture, $"recovered: mean acknowledgement latency {mean.TotalMilliseconds:0.#} ms over {count} batch(es) (recovered at {_options.RecoveredLatency.TotalMilliseconds:0.#} ms)"), now);
        }

        return null;
    }

    private bool CanGrow() =>
        BatchSize < _options.MaxBatchSize || (Linger != Timeout.InfiniteTimeSpan && Linger < _options.MaxLinger);

    private BatchLimitsChange Change(int level, bool grew, string reason, long now)
    {
        int oldSize = BatchSize;
        TimeSpan oldLinger = Linger;
        double scale = Math.Pow(_options.Factor, level);
        _level = level;
        BatchSize = (int)Math.Min(_floorBatchSize * scale, _options.MaxBatchSize);
        Linger = _floorLinger == Timeout.InfiniteTimeSpan
            ? _floorLinger
            : TimeSpan.FromTicks((long)Math.Min(_floorLinger.Ticks * scale, _options.MaxLinger.Ticks));
        _lastChange = now;
        return new BatchLimitsChange(oldSize, oldLinger, BatchSize, Linger, grew, reason);
    }
}
