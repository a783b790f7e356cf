using System.Diagnostics;

namespace DataflowProducer.Tests.TestSupport;

/// <summary>
/// Waits until the thread pool has nothing queued and nothing running beyond a baseline: the pipeline's own work
/// (offer loops, the action block, acknowledgement continuations) all runs there, so once it is quiet every effect of
/// the last step has happened. Where the system shows thread states (Linux), quiet also needs no other pool thread
/// running or waiting for a processor: the pool's counts alone cannot tell a thread of this test's work from
/// one of an earlier test that was busy when the baseline was taken and finished since. Bounded: a pool that never goes
/// quiet fails the test instead of hanging it.
/// </summary>
internal static class Quiescence
{
    private const int QuietChecksInARow = 4;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private static readonly bool ThreadStatesVisible = OperatingSystem.IsLinux() && Directory.Exists("/proc/self/task");
    private static readonly ThreadStates PoolWorkers = new();

    /// <summary>The number of pool threads busy now (running a work item, or blocked inside one).</summary>
    public static int BusyThreads()
    {
        ThreadPool.GetMaxThreads(out int max, out _);
        ThreadPool.GetAvailableThreads(out int available, out _);
        return max - available;
    }

    /// <summary>The fewest busy pool threads seen over a short spin: the baseline for a test that already runs on a pool
    /// thread (after an await) while work of its own may still be finishing.</summary>
    public static PoolBaseline QuietestBusyThreads() => PoolBaseline.Take();

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
        if (!ThreadStatesVisible)
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

/// <summary>
/// The busy pool threads that are not a test's work: the fewest busy while nothing was queued or finishing when the test
/// began, plus the threads the test blocks on purpose. It only ever goes down: a thread of an earlier test (or of the
/// test runner reporting it) still busy when the baseline was taken stops counting the first time fewer are seen, so
/// that this test's work on one thread cannot pass for quiet once that thread is done.
/// </summary>
internal sealed class PoolBaseline
{
    private const int SettledChecks = 100;
    private static readonly TimeSpan SettleAtMost = TimeSpan.FromSeconds(2);
    private readonly Func<int> _blocked;
    private int _others;

    private PoolBaseline(int others, Func<int> blocked)
    {
        _others = others;
        _blocked = blocked;
    }

    /// <summary>Takes the baseline: the fewest busy pool threads seen once nothing is queued and no work item finishes
    /// for a while (bounded, so a pool that never settles still gives a baseline, which later checks lower).</summary>
    /// <param name="blocked">The threads the test blocks on purpose at any moment: busy, but not work still to come.</param>
    public static PoolBaseline Take(Func<int>? blocked = null)
    {
        blocked ??= static () => 0;
        long start = Stopwatch.GetTimestamp();
        int fewest = int.MaxValue;
        int settled = 0;
        long completed = ThreadPool.CompletedWorkItemCount;
        while (settled < SettledChecks && Stopwatch.GetElapsedTime(start) < SettleAtMost)
        {
            Thread.Yield();
            fewest = Math.Min(fewest, OthersBusy(Quiescence.BusyThreads(), blocked));
            long nowCompleted = ThreadPool.CompletedWorkItemCount;
            settled = ThreadPool.PendingWorkItemCount == 0 && nowCompleted == completed ? settled + 1 : 0;
            completed = nowCompleted;
        }

        return new PoolBaseline(Math.Max(0, fewest), blocked);
    }

    /// <summary>Whether <paramref name="busy"/> pool threads are no more than the baseline; fewer lower it for good.</summary>
    public bool IsQuietAt(int busy)
    {
        int others = OthersBusy(busy, _blocked);
        if (others < Volatile.Read(ref _others))
        {
            Volatile.Write(ref _others, Math.Max(0, others));
        }

        return others <= Volatile.Read(ref _others);
    }

    /// <summary>Whether pool threads of no concern to the test are counted: then one of them that finished since the
    /// baseline was taken leaves room for the test's own work to pass for quiet.</summary>
    public bool MayHideWork => Volatile.Read(ref _others) > 0;

    // The busy pool threads less those blocked on purpose and the caller itself (a test that runs on the pool after an
    // await): both are busy, neither is work still to come.
    private static int OthersBusy(int busy, Func<int> blocked) => busy - blocked() - (Thread.CurrentThread.IsThreadPoolThread ? 1 : 0);

    public override string ToString() => $"{Volatile.Read(ref _others)} + {_blocked()} blocked";
}
