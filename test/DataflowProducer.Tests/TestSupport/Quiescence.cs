using System.Diagnostics;

namespace DataflowProducer.Tests.TestSupport;

/// <summary>
/// Waits until the thread pool has nothing queued and nothing running beyond a baseline: the pipeline's own work
/// (offer loops, the action block, acknowledgement continuations) all runs there, so once it is quiet every effect of
/// the last step has happened. The pool's counts alone cannot tell a thread of this test's work from one of an earlier
/// test that was busy when the baseline was taken and finished since; so while the baseline counts such threads, and
/// where the system shows thread states (Linux), a run of quiet checks ends with one more: no other pool worker is
/// running or waiting for a processor. Bounded: a pool that never goes quiet fails the test instead of hanging it.
/// </summary>
internal static class Quiescence
{
    private const int QuietChecksInARow = 4;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private static readonly bool ThreadStatesVisible = OperatingSystem.IsLinux() && Directory.Exists("/proc/self/task");
    private static readonly ThreadStates? PoolWorkers = ThreadStatesVisible ? new() : null;

    /// <summary>The number of pool threads busy now (running a work item, or blocked inside one).</summary>
    public static int BusyThreads()
    {
        ThreadPool.GetMaxThreads(out int max, out _);
        ThreadPool.GetAvailableThreads(out int available, out _);
        return max - available;
    }

    public static void Wait(PoolBaseline baseline) => Wait(baseline, QuietChecksInARow);

    /// <summary>As <see cref="Wait(PoolBaseline)"/>, asking for <paramref name="checks"/> quiet checks in a row; many
    /// checks, with the processor yielded between them, let a thread the system had descheduled show up as busy.</summary>
    public static void Wait(PoolBaseline baseline, int checks)
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
            bool idle = ThreadPool.PendingWorkItemCount == 0 && baseline.IsQuietAt(BusyThreads()) && nowCompleted == completed;
            completed = nowCompleted;
            quiet = idle ? quiet + 1 : 0;
            if (quiet == checks && baseline.MayHideWork && RunnableOtherThreads() > 0)
            {
                quiet = 0;
            }

            if (Stopwatch.GetElapsedTime(start) > Bound)
            {
                throw new TimeoutException($"The thread pool did not go quiet within {Bound} (pending {ThreadPool.PendingWorkItemCount}, busy {BusyThreads()}, baseline {baseline}, other threads runnable {RunnableOtherThreads()}).");
            }
        }
    }

    /// <summary>The pool threads of this process other than the caller that are running or waiting for a processor (state
    /// R in <c>/proc</c>): a pool thread doing work shows here even while the system has it descheduled, a thread blocked
    /// on purpose does not. Zero where thread states cannot be seen.</summary>
    private static int RunnableOtherThreads()
    {
        if (PoolWorkers is null)
        {
            return 0;
        }

        int runnable;
        lock (PoolWorkers)
        {
            runnable = PoolWorkers.CountRunnable();
        }

        // The caller is running as it reads.
        return Math.Max(0, runnable - (Thread.CurrentThread.IsThreadPoolThread ? 1 : 0));
    }
}
