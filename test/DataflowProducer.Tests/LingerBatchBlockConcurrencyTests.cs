using System.Threading.Tasks.Dataflow;

namespace DataflowProducer.Tests;

// Real threads and the system clock with a 1 ms linger, so timer callbacks race with posts, triggers and Complete on
// other threads. Only invariants are asserted (every accepted item exactly once, per-thread order, batch sizes):
// never timing, which belongs in benchmarks.
[Category("Concurrency")]
public class LingerBatchBlockConcurrencyTests
{
    private const int Threads = 8;
    private const int PerThread = 20_000;
    private const int BatchSize = 7;

    [Test, CancelAfter(10_000)]
    public async Task Post_ManyThreadsWhileTimerFires_EveryItemOnceInPerThreadOrder(CancellationToken ct)
    {
        var block = new LingerBatchBlock<long>(BatchSize, TimeSpan.FromMilliseconds(1));
        var batches = new List<long[]>();
        var sink = new ActionBlock<long[]>(batches.Add);
        block.LinkTo(sink, new DataflowLinkOptions { PropagateCompletion = true });

        using var start = new Barrier(Threads + 1);
        Task[] posters = [.. Enumerable.Range(0, Threads).Select(thread => Task.Factory.StartNew(
            () =>
            {
                start.SignalAndWait(ct);
                for (int i = 0; i < PerThread; i++)
                {
                    if (!block.Post(Item(thread, i)))
                    {
                        throw new InvalidOperationException($"Post declined item {i} of thread {thread}.");
                    }

                    if (i % 1_000 == 0)
                    {
                        block.TriggerBatch();
                    }
                }
            },
            ct,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default))];
        start.SignalAndWait(ct);
        await Task.WhenAll(posters).WaitAsync(ct);

        block.Complete();
        await sink.Completion.WaitAsync(ct);

        AssertInvariants(batches, Enumerable.Repeat(PerThread, Threads).ToArray());
        Assert.That(block.Completion.IsCompletedSuccessfully, Is.True);
    }

    [Test, CancelAfter(10_000)]
    public async Task SendAsync_ManyThreadsBoundedWhileCompleteRaces_EveryAcceptedItemOnceInPerThreadOrder(CancellationToken ct)
    {
        var block = new LingerBatchBlock<long>(new LingerBatchBlockOptions
        {
            BatchSize = BatchSize,
            Linger = TimeSpan.FromMilliseconds(1),
            BoundedCapacity = 3 * BatchSize,
        });
        var batches = new List<long[]>();
        var sink = new ActionBlock<long[]>(batches.Add, new ExecutionDataflowBlockOptions { BoundedCapacity = 2 });
        block.LinkTo(sink, new DataflowLinkOptions { PropagateCompletion = true });

        // Each thread sends until the block declines (Complete arrives mid-stream); what it sent is what was accepted.
        var acceptedPerThread = new int[Threads];
        using var halfway = new CountdownEvent(Threads);
        Task[] senders = [.. Enumerable.Range(0, Threads).Select(thread => Task.Run(
            async () =>
            {
                for (int i = 0; ; i++)
                {
                    if (i == PerThread / 10)
                    {
                        halfway.Signal();
                    }

                    if (!await block.SendAsync(Item(thread, i), ct))
                    {
                        acceptedPerThread[thread] = i;
                        return;
                    }
                }
            },
            ct))];

        await Task.Run(() => halfway.Wait(ct), ct);
        block.Complete();
        await Task.WhenAll(senders).WaitAsync(ct);
        await sink.Completion.WaitAsync(ct);

        AssertInvariants(batches, acceptedPerThread);
        Assert.That(block.Completion.IsCompletedSuccessfully, Is.True);
    }

    private static long Item(int thread, int index) => ((long)thread << 32) | (uint)index;

    private static void AssertInvariants(List<long[]> batches, int[] expectedPerThread)
    {
        var next = new int[expectedPerThread.Length];
        var problems = new List<string>();
        foreach (long[] batch in batches)
        {
            if (batch.Length is < 1 or > BatchSize)
            {
                problems.Add($"batch of {batch.Length}");
            }

            foreach (long item in batch)
            {
                int thread = (int)(item >> 32);
                int index = (int)(item & 0xFFFF_FFFF);
                if (index != next[thread])
                {
                    problems.Add($"thread {thread}: expected item {next[thread]}, got {index}");
                }

                next[thread] = index + 1;
            }
        }

        Assert.Multiple(() =>
        {
            Assert.That(problems, Is.Empty, "batch sizes and per-thread order (no loss, no duplicate)");
            Assert.That(next, Is.EqualTo(expectedPerThread), "items per thread");
        });
    }
}
