using System.Diagnostics;
using System.Threading.Tasks.Dataflow;
using DataflowProducer.Testing;
using DataflowProducer.Tests.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace DataflowProducer.Tests;

// Races (DESIGN 4.15): Complete, Fault, cancellation, DisposeAsync and the drain timeout against a full in-flight
// window and against posters still posting, thousands of rounds a run. At Completion the statistics, the hand-back
// callbacks and the exception must agree: Accepted == Delivered + Failed + Abandoned, every abandoned item already
// handed back, none twice.
public partial class BatchProducerBlockTests
{
    // Enough to catch a one-in-ten-thousand interleaving: before the fix, the window race showed within 8,000 to
    // 25,000 rounds and the posters' race within 11,000.
    private const int WindowRounds = 30_000;
    private const int PosterRounds = 15_000;

    public enum AbortKind
    {
        Fault,
        DrainTimeout,
    }

    public enum StopKind
    {
        Complete,
        Fault,
        Cancel,
        Dispose,
    }

    [Test, CancelAfter(120_000)]
    public async Task Race_AbortWhileNextBatchWaitsForFullWindow_EveryItemAccountedAtCompletion(
        [Values] AbortKind abort,
        [Values] bool flushAbandonsUnacknowledged,
        CancellationToken ct)
    {
        // Acknowledgements never come: batch 1 fills the window (MaxInFlightBatches 1), batch 2 waits for it, the rest
        // stay in the batch block. The abort lands while batch 2 is on its way into the window wait.
        var stopwatch = Stopwatch.StartNew();
        for (int round = 0; round < WindowRounds; round++)
        {
            var time = new FakeTimeProvider();
            var sink = new RecordingBatchSink<int> { AcknowledgeImmediately = false, AbandonUnacknowledgedOnFlush = flushAbandonsUnacknowledged };
            var handBack = new HandBackRecorder();
            var options = Options(time, batchSize: 10, maxInFlightBatches: 1);
            options.DrainTimeout = TimeSpan.FromMilliseconds(1);
            var block = CreateSut(sink, options, handBack);
            PostAll(block, Enumerable.Range(0, 100));
            await sink.WaitForBatchesAsync(1, ct);

            if (abort == AbortKind.Fault)
            {
                Fault(block, new InvalidOperationException("stop"));
            }
            else
            {
                block.Complete();
                time.Advance(TimeSpan.FromMilliseconds(1));
            }

            await AssertAgreeAtCompletionAsync(block, handBack, accepted: 100, round, ct);
        }

        TestContext.Out.WriteLine($"{WindowRounds} rounds in {stopwatch.Elapsed.TotalSeconds:F1} s");
    }

    [Test, CancelAfter(120_000)]
    public async Task Race_StopWhilePostersPost_EveryItemAccountedAtCompletion([Values] StopKind stop, CancellationToken ct)
    {
        const int Posters = 3;
        const int PerPoster = 40;
        var stopwatch = Stopwatch.StartNew();
        var random = new Random(12345);
        for (int round = 0; round < PosterRounds; round++)
        {
            using var cts = new CancellationTokenSource();
            var sink = new RecordingBatchSink<int> { AcknowledgeImmediately = round % 2 == 0 };
            var handBack = new HandBackRecorder();
            BatchProducerOptions options = Options(batchSize: 7, boundedCapacity: 30, maxInFlightBatches: 2, cancellationToken: cts.Token);
            options.EmitOutcomes = round % 3 == 0;
            options.OutcomeBoundedCapacity = 1;
            var block = CreateSut(sink, options, handBack);
            Task<List<BatchOutcome<int>>>? reading = options.EmitOutcomes ? ReadOutcomesAsync(block, ct) : null;
            using var go = new ManualResetEventSlim();
            Task<int>[] posters = [.. Enumerable.Range(0, Posters).Select(p => Task.Run(
                async () =>
                {
                    go.Wait(ct);
                    int accepted = 0;
                    for (int i = 0; i < PerPoster; i++)
                    {
                        int item = (p * PerPoster) + i;
                        bool taken = i % 2 == 0 ? block.Post(item) : await block.SendAsync(item, ct);
                        accepted += taken ? 1 : 0;
                    }

                    return accepted;
                },
                ct))];
            go.Set();
            Thread.SpinWait(random.Next(0, 20_000));
            Task? disposal = null;
            switch (stop)
            {
                case StopKind.Complete:
                    block.Complete();
                    break;
                case StopKind.Fault:
                    Fault(block, new InvalidOperationException("stop"));
                    break;
                case StopKind.Cancel:
                    cts.Cancel();
                    break;
                case StopKind.Dispose:
                    disposal = block.DisposeAsync().AsTask();
                    break;
            }

            // Acknowledge whatever is still held, so that Complete and DisposeAsync can finish; posters that wait for
            // room are released by the abort, or by room freed by the acknowledgements.
            while (!block.Completion.IsCompleted)
            {
                sink.AcknowledgeAll();
                await Task.Yield();
                ct.ThrowIfCancellationRequested();
            }

            int[] acceptedByPosters = await Task.WhenAll(posters).WaitAsync(ct);
            await AssertAgreeAtCompletionAsync(block, handBack, acceptedByPosters.Sum(), round, ct);
            if (reading is not null)
            {
                AssertOutcomesAgree(block, await reading, PerPoster, round);
            }

            if (disposal is not null)
            {
                await disposal.WaitAsync(ct);
            }
        }

        TestContext.Out.WriteLine($"{PosterRounds} rounds in {stopwatch.Elapsed.TotalSeconds:F1} s");
    }

    // One outcome per accepted item, each poster's in the order it posted, and the same counts as the statistics.
    private static void AssertOutcomesAgree(BatchProducerBlock<int> block, List<BatchOutcome<int>> outcomes, int perPoster, int round)
    {
        BatchProducerStatistics s = block.GetStatistics();
        ItemOutcome<int>[] items = [.. outcomes.SelectMany(o => o)];
        int Count(OutcomeStatus status) => items.Count(o => o.Status == status);
        bool ordered = items.GroupBy(o => o.Item / perPoster).All(g => g.Select(o => o.Item).Zip(g.Select(o => o.Item).Skip(1)).All(pair => pair.First < pair.Second));
        if (items.Length != s.Accepted || !ordered || Count(OutcomeStatus.Delivered) != s.Delivered || Count(OutcomeStatus.NotSent) != s.NotSent || Count(OutcomeStatus.Unknown) != s.Unknown)
        {
            Assert.Fail($"round {round}: {items.Length} outcomes (ordered: {ordered}; {Count(OutcomeStatus.Delivered)} delivered, {Count(OutcomeStatus.NotSent)} not sent, {Count(OutcomeStatus.Unknown)} unknown) for {s}");
        }
    }

    private static async Task AssertAgreeAtCompletionAsync(BatchProducerBlock<int> block, HandBackRecorder handBack, int accepted, int round, CancellationToken ct)
    {
        Exception? exception = await ExceptionOf(block.Completion, ct);

        // Snapshots the moment Completion is seen to end; a hand-back after this point came too late.
        int failedHandedBack = handBack.Failed.Count;
        int abandonedHandedBack = handBack.Abandoned.Count;
        BatchProducerStatistics s = exception is BatchProducerException<int> { Statistics: { } atFinish } ? atFinish : block.GetStatistics();
        bool agree = s.Accepted == accepted
            && s.Accepted == s.Delivered + s.Failed + s.Abandoned
            && s.InFlight == 0
            && failedHandedBack == s.Failed
            && abandonedHandedBack == s.Abandoned
            && handBack.Abandoned.Distinct().Count() == abandonedHandedBack
            && (exception is not BatchProducerException<int> ex || (ex.AbandonedItems.Count == s.Abandoned && ex.FailedItems.Count == s.Failed))
            && (exception is not null || s.Failed + s.Abandoned == 0);
        if (!agree)
        {
            Assert.Fail($"Round {round}: at Completion ({block.Completion.Status}) the counts disagree: {s}; posters accepted {accepted}; handed back {failedHandedBack} failed and {abandonedHandedBack} abandoned; {exception?.GetType().Name}: {exception?.Message}");
        }
    }
}
