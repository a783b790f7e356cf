using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace DataflowProducer.Benchmarks.Contenders;

/// <summary>
/// A sink around another that records where the produce stage's time goes, for the benchmark's breakdown: time inside
/// <see cref="IBatchSink{T}.AcceptAsync"/> (handing the batch to the client), the gaps between one accept and the next
/// (split by whether the in-flight window was full when the previous accept returned, so the gap was a wait for an
/// acknowledgement, or not, so it was a wait for the next batch), and each batch's acknowledgement latency. The
/// inner sink's hooks are passed through, so the pipeline over it behaves as over the inner sink.
/// </summary>
public sealed class ProbedSink<T>(IBatchSink<T> inner, int maxInFlightBatches) : IBatchSink<T>, IBatchSinkHooks<T>
{
    private readonly IBatchSinkHooks<T>? _hooks = inner as IBatchSinkHooks<T>;
    private readonly List<double> _ackMilliseconds = [];
    private long _lastReturn;
    private bool _windowFullAtLastReturn;
    private int _outstanding;

    /// <summary>Gets the total time inside the inner sink's <c>AcceptAsync</c>.</summary>
    public TimeSpan HandingOver { get; private set; }

    /// <summary>Gets the total time between accepts while the window was full: waiting for an acknowledgement.</summary>
    public TimeSpan WaitingForWindow { get; private set; }

    /// <summary>Gets the total time between accepts while the window had room: waiting for the next batch.</summary>
    public TimeSpan WaitingForBatch { get; private set; }

    /// <summary>Gets the number of batches accepted.</summary>
    public int Batches { get; private set; }

    public IReadOnlyList<KeyValuePair<string, object?>> TelemetryTags => _hooks?.TelemetryTags ?? [];

    public bool DisposeWhenFinished => _hooks?.DisposeWhenFinished ?? false;

    /// <summary>Gets the acknowledgement latency at a quantile (0.5 for the median), in milliseconds.</summary>
    public double AckMilliseconds(double quantile)
    {
        lock (_ackMilliseconds)
        {
            if (_ackMilliseconds.Count == 0)
            {
                return double.NaN;
            }

            double[] sorted = [.. _ackMilliseconds.Order()];
            return sorted[(int)Math.Min(sorted.Length - 1, quantile * sorted.Length)];
        }
    }

    public async ValueTask<Task<BatchResult>> AcceptAsync(ReadOnlyMemory<T> batch, CancellationToken cancellationToken)
    {
        long enter = Stopwatch.GetTimestamp();
        if (_lastReturn != 0)
        {
            TimeSpan gap = Stopwatch.GetElapsedTime(_lastReturn, enter);
            if (_windowFullAtLastReturn)
            {
                WaitingForWindow += gap;
            }
            else
            {
                WaitingForBatch += gap;
            }
        }

        Task<BatchResult> acknowledgement = await inner.AcceptAsync(batch, cancellationToken).ConfigureAwait(false);
        long returned = Stopwatch.GetTimestamp();
        HandingOver += Stopwatch.GetElapsedTime(enter, returned);
        Batches++;
        int outstanding = Interlocked.Increment(ref _outstanding);
        _ = acknowledgement.ContinueWith(
            (_, state) =>
            {
                var probe = (ProbedSink<T>)state!;
                Interlocked.Decrement(ref probe._outstanding);
                lock (probe._ackMilliseconds)
                {
                    probe._ackMilliseconds.Add(Stopwatch.GetElapsedTime(returned).TotalMilliseconds);
                }
            },
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        _windowFullAtLastReturn = outstanding >= maxInFlightBatches;
        _lastReturn = returned;
        return acknowledgement;
    }

    public Task FlushAsync(TimeSpan timeout, CancellationToken cancellationToken) => inner.FlushAsync(timeout, cancellationToken);

    public void OnOffered(T item) => _hooks?.OnOffered(item);

    public IReadOnlyList<KeyValuePair<string, object?>> GetBatchTags(IReadOnlyList<T> batch) => _hooks?.GetBatchTags(batch) ?? [];

    public ActivityContext GetOfferedContext(T item) => _hooks?.GetOfferedContext(item) ?? default;

    public string? GetErrorType(Exception exception) => _hooks?.GetErrorType(exception);

    public Func<T, long>? ItemSize => _hooks?.ItemSize;

    public void Attach(BatchSinkSignals signals) => _hooks?.Attach(signals);
}
