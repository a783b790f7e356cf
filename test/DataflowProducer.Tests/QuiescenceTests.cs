using System.Diagnostics;
using DataflowProducer.Tests.TestSupport;

namespace DataflowProducer.Tests;

// The quiet-pool wait the fake-clock suites step by: it must not take work of the test for quiet when a pool thread
// busy at the baseline (an earlier test's, or the runner's) has finished since.
[NonParallelizable]
[Platform("Linux", Reason = "the check that catches it reads thread states from /proc")]
public class QuiescenceTests
{
    [Test, CancelAfter(20_000)]
    public void Wait_ABaselineThreadFinishesAsWorkStarts_WaitsForTheWork(CancellationToken ct)
    {
        using var held = new ManualResetEventSlim();
        using var holding = new ManualResetEventSlim();
        int done = 0;
        ThreadPool.UnsafeQueueUserWorkItem(
            _ =>
            {
                holding.Set();
                held.Wait(CancellationToken.None);
            },
            null);
        try
        {
            holding.Wait(ct);
            PoolBaseline baseline = PoolBaseline.Take();

            // The held thread goes as the work comes: the pool's count of busy threads stays at the baseline throughout.
            ThreadPool.UnsafeQueueUserWorkItem(
                _ =>
                {
                    held.Set();
                    var spent = Stopwatch.StartNew();
                    while (spent.Elapsed < TimeSpan.FromMilliseconds(50))
                    {
                        Thread.SpinWait(100);
                    }

                    Volatile.Write(ref done, 1);
                },
                null);
            Quiescence.Wait(baseline, checks: 200);

            Assert.That(Volatile.Read(ref done), Is.EqualTo(1), $"the wait returned while the work ran (baseline {baseline})");
        }
        finally
        {
            held.Set();
        }
    }
}
