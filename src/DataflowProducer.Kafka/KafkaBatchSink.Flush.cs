using Confluent.Kafka;
using DataflowProducer.Kafka.Diagnostics;
using DataflowProducer.Kafka.Internal;

namespace DataflowProducer.Kafka;

// The end of the sink's life: the bounded flush (what stays unknown is abandoned) and disposing an owned producer.
public sealed partial class KafkaBatchSink<TKey, TValue>
{
    // A client whose Flush does not return within its timeout is not waited for longer than this on top of it.
    private static readonly TimeSpan FlushGrace = TimeSpan.FromSeconds(1);

    /// <inheritdoc />
    /// <remarks>Runs the client's blocking <c>Flush</c> on a dedicated thread, so the thread pool is never blocked, and
    /// waits for it at most a second past <paramref name="timeout"/> (a client whose flush hangs is left behind).
    /// Messages handed to the client whose outcome is still unknown afterwards are reported in their batch's result as
    /// <see cref="BatchResult.Abandoned"/> (unknown: the client may still have sent them); messages never handed to it
    /// as <see cref="BatchResult.NotSent"/>. Confluent.Kafka (2.16) does not expose librdkafka's <c>rd_kafka_purge</c>,
    /// so messages still queued inside the client cannot be taken back and reported not sent. After a fatal
    /// client error it then throws a <see cref="KafkaException"/> carrying that error.</remarks>
    public async Task FlushAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        Log.FlushStarted(_logger, timeout);
        int left = 0;
        try
        {
            Task<int> flush = Task.Factory.StartNew(
                () =>
                {
                    if (timeout == Timeout.InfiniteTimeSpan)
                    {
                        _mode.Flush(cancellationToken);
                        return 0;
                    }

                    return _mode.Flush(timeout);
                },
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default);
            try
            {
                left = FlushBound(timeout) is { } bound
                    ? await flush.WaitAsync(bound, _timeProvider, cancellationToken).ConfigureAwait(false)
                    : await flush.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!flush.IsCompleted)
            {
                Observe(flush);
                if (ex is not TimeoutException)
                {
                    throw;
                }

                Log.FlushDidNotReturn(_logger, timeout + FlushGrace);
            }
        }
        finally
        {
            foreach (BatchTracker tracker in _outstanding.Keys)
            {
                tracker.AbandonUnsettled();
            }
        }

        if (left > 0)
        {
            Log.FlushLeftMessages(_logger, left);
        }

        ThrowIfBroken();
    }

    /// <summary>Disposes the producer if the sink built it. Does not flush: the pipeline flushes before.</summary>
    /// <returns>A task that completes when the producer is disposed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0 || !_ownsProducer)
        {
            return;
        }

        // The client's Dispose can block while it tears down its threads; keep it off the caller's thread.
        await Task.Factory.StartNew(_mode.Dispose, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
    }

    /// <summary>Disposes the producer if the sink built it.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0 || !_ownsProducer)
        {
            return;
        }

        _mode.Dispose();
    }

    // How long to wait for the client's flush: its timeout plus a grace period, or no limit (an infinite timeout, or
    // one too long for a timer, which only the token ends).
    private static TimeSpan? FlushBound(TimeSpan timeout)
    {
        if (timeout == Timeout.InfiniteTimeSpan || timeout.TotalMilliseconds >= uint.MaxValue - 1 - FlushGrace.TotalMilliseconds)
        {
            return null;
        }

        return timeout + FlushGrace;
    }

    private static void Observe(Task task) =>
        task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
}
