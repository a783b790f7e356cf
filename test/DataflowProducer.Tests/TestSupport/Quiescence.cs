using System.Diagnostics;

namespace DataflowProducer.Tests.TestSupport;

/// <summary>
/// Waits until the thread pool has nothing queued and nothing running beyond a baseline: the pipeline's own work
/// (offer loops, the action block, acknowledgement continuations) all runs there, so once it is quiet every effect of
/// the last step has happened. Bounded: a pool that never goes quiet fails the test instead of hanging it.
/// </summary>
internal static class Quiescence
{
    private const int QuietChecksInARow = 4;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    /// <summary>The number of pool threads busy now; call before any work starts to get the baseline.</summary>
    public static int BusyThreads()
    {
        ThreadPool.GetMaxThreads(out int max, out _);
        ThreadPool.GetAvailableThreads(out int available, out _);
        return max - available;
    }

    /// <summary>The fewest busy pool threads seen over a short spin: the baseline for a test that already runs on a pool
    /// thread (after an await) while work of its own may still be finishing.</summary>
    public static int QuietestBusyThreads()
    {
        int busy = int.MaxValue;
        for (int i = 0; i < 2_000; i++)
        {
            busy = Math.Min(busy, BusyThreads());
            Thread.SpinWait(20);
        }

        return busy;
    }

    public static void Wait(int baselineBusy) => Wait(() => baselineBusy);

    /// <summary>As <see cref="Wait(int)"/>, with a baseline that may change while waiting (threads a test blocks on
    /// purpose are busy, but not work still to come).</summary>
    public static void Wait(Func<int> baselineBusy) => Wait(baselineBusy, QuietChecksInARow);

    /// <summary>As <see cref="Wait(Func{int})"/>, asking for <paramref name="checks"/> quiet checks in a row; many
    /// checks, with the processor yielded between them, let a thread the system had descheduled show up as busy.</summary>
    public static void Wait(Func<int> baselineBusy, int checks)
    {
        long start = Stopwatch.GetTimestamp();
        int quiet = 0;
        var spinner = default(SpinWait);
        long completed = ThreadPool.CompletedWorkItemCount;
        while (quiet < checks)
        {
            if (checks > QuietChecksInARow)
            {
                Thread.Yield();
            }
            else
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }

            long nowCompleted = ThreadPool.CompletedWorkItemCount;
            bool idle = ThreadPool.PendingWorkItemCount == 0 && BusyThreads() <= baselineBusy() && nowCompleted == completed;
            completed = nowCompleted;
            quiet = idle ? quiet + 1 : 0;
            if (Stopwatch.GetElapsedTime(start) > Bound)
            {
                throw new TimeoutException($"The thread pool did not go quiet within {Bound} (pending {ThreadPool.PendingWorkItemCount}, busy {BusyThreads()}, baseline {baselineBusy()}).");
            }
        }
    }
}
