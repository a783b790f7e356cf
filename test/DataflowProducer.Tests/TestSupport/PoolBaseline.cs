using System.Diagnostics;

namespace DataflowProducer.Tests.TestSupport;

/// <summary>
/// The busy pool threads that are not a test's work: the fewest busy while nothing was queued or finishing when the test
/// began, plus the threads the test blocks on purpose. It only ever goes down: a thread of an earlier test (or of the
/// test runner reporting it) still busy when the baseline was taken stops counting the first time fewer are seen, so
/// that this test's work on one thread cannot pass for quiet once that thread is done.
/// </summary>
internal sealed class PoolBaseline
{
    private const int SettledChecks = 100;
    private static readonly TimeSpan SettleAtLeast = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan SettleAtMost = TimeSpan.FromSeconds(2);
    private readonly Func<int> _blocked;
    private int _others;

    private PoolBaseline(int others, Func<int> blocked)
    {
        _others = others;
        _blocked = blocked;
    }

    /// <summary>Takes the baseline: the fewest busy pool threads seen while nothing is queued and no work item finishes,
    /// over at least 100 checks and a millisecond (bounded: a pool that never settles still gives a baseline, the
    /// fewest seen at all, which later checks lower).</summary>
    /// <param name="blocked">The threads the test blocks on purpose at any moment: busy, but not work still to come.</param>
    public static PoolBaseline Take(Func<int>? blocked = null)
    {
        blocked ??= static () => 0;
        long start = Stopwatch.GetTimestamp();
        int fewest = int.MaxValue;
        int fewestSettled = int.MaxValue;
        int settled = 0;
        long completed = ThreadPool.CompletedWorkItemCount;
        while ((settled < SettledChecks || Stopwatch.GetElapsedTime(start) < SettleAtLeast) && Stopwatch.GetElapsedTime(start) < SettleAtMost)
        {
            Thread.Yield();
            int others = OthersBusy(Quiescence.BusyThreads(), blocked);
            long nowCompleted = ThreadPool.CompletedWorkItemCount;
            bool quiet = ThreadPool.PendingWorkItemCount == 0 && nowCompleted == completed;
            completed = nowCompleted;
            settled = quiet ? settled + 1 : 0;
            fewest = Math.Min(fewest, others);
            fewestSettled = settled > 0 ? Math.Min(fewestSettled, others) : int.MaxValue;
        }

        return new PoolBaseline(Math.Max(0, fewestSettled == int.MaxValue ? fewest : fewestSettled), blocked);
    }

    /// <summary>Whether <paramref name="busy"/> pool threads are no more than the baseline; fewer lower it for good.
    /// Called by the one thread that drives the test.</summary>
    public bool IsQuietAt(int busy)
    {
        int others = OthersBusy(busy, _blocked);
        _others = Math.Min(_others, Math.Max(0, others));
        return others <= _others;
    }

    /// <summary>Whether pool threads of no concern to the test are counted: then one of them that finished since the
    /// baseline was taken leaves room for the test's own work to pass for quiet.</summary>
    public bool MayHideWork => _others > 0;

    // The busy pool threads less those blocked on purpose and the caller itself (a test that runs on the pool after an
    // await): both are busy, neither is work still to come.
    private static int OthersBusy(int busy, Func<int> blocked) => busy - blocked() - (Thread.CurrentThread.IsThreadPoolThread ? 1 : 0);

    public override string ToString() => $"{_others} + {_blocked()} blocked";
}
