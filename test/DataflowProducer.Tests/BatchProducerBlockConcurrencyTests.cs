using System.Threading.Tasks.Dataflow;
using DataflowProducer.Testing;
using DataflowProducer.Tests.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace DataflowProducer.Tests;

// The seed regression under concurrency: many posters, Complete() from another thread mid-stream. Whatever the
// interleaving, every item the block accepted reaches the sink exactly once and the counts agree exactly.
[Category("Concurrency")]
public class BatchProducerBlockConcurrencyTests
{
    private const int Posters = 8;
    private const int ItemsPerPoster = 1250;
    private const int Total = Posters * ItemsPerPoster;

    [Test, Repeat(100), CancelAfter(10_000)]
    public async Task Complete_FromAnotherThreadWhile8PostersSend10000Items_EveryAcceptedItemDeliveredOnce(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int>();
        var block = new BatchProducerBlock<int>(
            sink,
            new BatchProducerOptions { BatchSize = 100, BoundedCapacity = 1000, MaxInFlightBatches = 4, Linger = TimeSpan.FromHours(1), TimeProvider = new FakeTimeProvider() });
        var halfway = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int sent = 0;
        var accepted = new List<int>[Posters];
        var invariantBroken = new List<BatchProducerStatistics>();

        Task completer = Task.Run(
            async () =>
            {
                await halfway.Task.WaitAsync(ct);
                block.Complete();
            },
            ct);
        Task[] posters = [.. Enumerable.Range(0, Posters).Select(p => Task.Run(
            async () =>
            {
                var mine = accepted[p] = [];
                for (int i = 0; i < ItemsPerPoster; i++)
                {
                    int item = (p * ItemsPerPoster) + i;
                    bool ok = i % 2 == 0 ? await block.SendAsync(item, ct) : block.Post(item) || await block.SendAsync(item, ct);
                    if (ok)
                    {
                        mine.Add(item);
                    }

                    if (Interlocked.Increment(ref sent) == Total / 2)
                    {
                        halfway.SetResult();
                    }

                    if (i % 64 == 0)
                    {
                        BatchProducerStatistics s = block.GetStatistics();
                        if (s.Accepted < s.Delivered + s.Failed + s.Abandoned + s.InFlight)
                        {
                            lock (invariantBroken)
                            {
                                invariantBroken.Add(s);
                            }
                        }
                    }
                }
            },
            ct))];

        await Task.WhenAll([.. posters, completer]).WaitAsync(ct);
        await block.Completion.WaitAsync(ct);

        int[] expected = [.. accepted.SelectMany(static a => a).Order()];
        int[] received = [.. sink.Items.Order()];
        BatchProducerStatistics final = block.GetStatistics();
        Assert.Multiple(() =>
        {
            Assert.That(received, Is.EqualTo(expected), "every accepted item received exactly once, nothing else");
            Assert.That(final.Accepted, Is.EqualTo(expected.Length));
            Assert.That(final.Delivered, Is.EqualTo(expected.Length));
            Assert.That(final.Accepted, Is.EqualTo(final.Delivered + final.Failed + final.Abandoned));
            Assert.That(final.InFlight, Is.Zero);
            Assert.That(invariantBroken, Is.Empty, "Accepted >= Delivered + Failed + Abandoned + InFlight at every snapshot");
            Assert.That(sink.FlushCount, Is.EqualTo(1));
            foreach (List<int> mine in accepted)
            {
                Assert.That(mine, Is.Ordered, "each poster's accepted items in its own order");
            }
        });
    }

    [Test, Repeat(20), CancelAfter(10_000)]
    public async Task Fault_WhilePostersPostAndAcknowledgementsArrive_EveryAcceptedItemAccountedOnce(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int> { FailWhen = static i => i % 97 == 0 ? new InvalidOperationException() : null };
        var handBack = new HandBackRecorder();
        var block = new BatchProducerBlock<int>(
            sink,
            new BatchProducerOptions { BatchSize = 50, BoundedCapacity = 500, MaxInFlightBatches = 2, Linger = TimeSpan.FromHours(1), TimeProvider = new FakeTimeProvider() },
            handBack.Callbacks);
        var halfway = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var faulted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int sent = 0;
        var accepted = new List<int>[Posters];

        Task faulter = Task.Run(
            async () =>
            {
                await halfway.Task.WaitAsync(ct);
                ((IDataflowBlock)block).Fault(new InvalidOperationException("stop"));
                faulted.SetResult();
            },
            ct);
        Task[] posters = [.. Enumerable.Range(0, Posters).Select(p => Task.Run(
            async () =>
            {
                var mine = accepted[p] = [];
                for (int i = 0; i < ItemsPerPoster; i++)
                {
                    // Post, retried while the pipeline is full, rather than SendAsync: a postponed SendAsync consumed
                    // during the abort hits a known LingerBatchBlock bug (see the ignored
                    // Fault_WhilePostponedOfferIsBeingConsumed test); this test is about the pipeline's own races.
                    int item = (p * ItemsPerPoster) + i;
                    bool ok;
                    while (!(ok = block.Post(item)) && !faulted.Task.IsCompleted)
                    {
                        await Task.Yield();
                        ct.ThrowIfCancellationRequested();
                    }

                    if (ok)
                    {
                        mine.Add(item);
                    }

                    if (Interlocked.Increment(ref sent) == Total / 2)
                    {
                        halfway.SetResult();
                    }
                }
            },
            ct))];

        await Task.WhenAll([.. posters, faulter]).WaitAsync(ct);
        try
        {
            await block.Completion.WaitAsync(ct);
        }
        catch (BatchProducerException)
        {
            // Expected: the fault abandons what was not delivered.
        }

        int[] expected = [.. accepted.SelectMany(static a => a).Order()];
        int[] failed = [.. handBack.Failed.Select(static f => f.Item)];
        IReadOnlyList<int> abandoned = handBack.Abandoned;
        HashSet<int> failedSet = [.. failed];
        int[] delivered = [.. sink.Items.Where(i => !failedSet.Contains(i) && !abandoned.Contains(i))];
        int[] accountedFor = [.. delivered.Concat(failed).Concat(abandoned).Order()];
        BatchProducerStatistics final = block.GetStatistics();
        Assert.Multiple(() =>
        {
            Assert.That(block.Completion.IsFaulted, Is.True);
            Assert.That(accountedFor, Is.EqualTo(expected), "each accepted item delivered, failed or abandoned, exactly once");
            Assert.That(final.Accepted, Is.EqualTo(expected.Length));
            Assert.That(final.Accepted, Is.EqualTo(final.Delivered + final.Failed + final.Abandoned));
            Assert.That(final.Failed, Is.EqualTo(failed.Length));
            Assert.That(final.Abandoned, Is.EqualTo(abandoned.Count));
            Assert.That(final.InFlight, Is.Zero);
        });
    }
}
