using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Threading.Tasks.Dataflow;
using CsCheck;
using DataflowProducer.Tests.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace DataflowProducer.Tests;

// Random schedules against BatchProducerBlock<int> over a ScriptedSink on a fake clock: posts and sends from three
// producers (each producer's items rise: producer p posts p * 1,000,000 + 0, 1, 2, …), time advances, acknowledgements
// completed in any order with failures, abandoned items or a faulted task, accepts that throw or hang (honouring the
// pipeline's token or not), Complete, Fault, cancellation and DisposeAsync. The pipeline works on the thread pool, so
// after every step the driver waits (bounded) until the pool is quiet: each step's effects have then happened, which
// keeps a seed's run the same run. Every wait is bounded; a pipeline that never finishes fails the case as a hang.
public class BatchProducerBlockPropertyTests
{
    private const int Iterations = 1_000;
    private const int Producers = 3;
    private const int ProducerStride = 1_000_000;
    private static readonly TimeSpan HangBound = TimeSpan.FromSeconds(10);
    private static readonly RunTotals Totals = new();

    [Test, CancelAfter(120_000)]
    public void RandomSchedules_Always_EveryAcceptedItemHasExactlyOneOutcomeAndAccountingIsExact()
    {
        // CsCheck prints the seed of a (shrunk) failing case; set the CsCheck_Seed environment variable to it to run
        // that case first. One thread: the driver's quiet-pool waits must not see another case's work.
        var stopwatch = Stopwatch.StartNew();
        Assert.That(
            () => Schedules.Sample(Run, writeLine: TestContext.Out.WriteLine, iter: Iterations, threads: 1, seed: Environment.GetEnvironmentVariable("CsCheck_Seed"), print: s => s.ToString()),
            Throws.Nothing);
        TestContext.Out.WriteLine($"{Iterations} schedules in {stopwatch.Elapsed.TotalSeconds:F1} s; over all runs: {Totals}");
    }

    private enum Kind
    {
        Post,
        Send,
        Advance,
        Ack,
        ReleaseHang,
        ScriptAccept,
        Complete,
        Fault,
        Cancel,
        Dispose,
    }

    private static Gen<Step> Steps { get; } = Gen.Frequency(
        (30, Gen.Int[0, Producers - 1].Select(p => new Step(Kind.Post, p))),
        (14, Gen.Int[0, Producers - 1].Select(p => new Step(Kind.Send, p))),
        (12, Gen.Int[1, 40].Select(ms => new Step(Kind.Advance, ms))),
        (16, Gen.Select(Gen.Int[0, 7], Gen.Int[0, 99], Gen.Int[0, 0xFFFF], Gen.Int[0, 0xFFFF], (pick, kind, m1, m2) => new Step(Kind.Ack, pick, kind < 70 ? 0 : m1, kind is >= 85 and < 95 ? m2 : 0, kind >= 95))),
        (4, Gen.Int[0, 7].Select(pick => new Step(Kind.ReleaseHang, pick))),
        (5, Gen.Int[1, 3].Select(mode => new Step(Kind.ScriptAccept, mode))),
        (2, Gen.Const(new Step(Kind.Complete, 0))),
        (1, Gen.Const(new Step(Kind.Fault, 0))),
        (1, Gen.Const(new Step(Kind.Cancel, 0))),
        (1, Gen.Const(new Step(Kind.Dispose, 0))));

    private static Gen<Schedule> Schedules { get; } =
        from batchSize in Gen.Int[1, 5]
        from lingerMs in Gen.Int[0, 30]
        from capacity in Gen.OneOf(Gen.Const(DataflowBlockOptions.Unbounded), Gen.Int[batchSize, 4 * batchSize])
        from maxInFlight in Gen.Int[1, 3]
        from faultPolicy in Gen.Int[0, 4]
        from drainMs in Gen.Int[0, 150]
        from outcomeCapacity in Gen.Int[1, 3]
        from steps in Steps.Array[0, 80]
        select new Schedule(batchSize, lingerMs == 0 ? null : lingerMs, capacity, maxInFlight, faultPolicy == 0, drainMs == 0 ? null : drainMs, outcomeCapacity, steps);

    private static void Run(Schedule schedule)
    {
        PoolBaseline baseline = PoolBaseline.Take();
        var time = new FakeTimeProvider();
        using var cancellation = new CancellationTokenSource();
        var sink = new ScriptedSink();
        var handBack = new HandBackRecorder();
        var block = new BatchProducerBlock<int>(
            sink,
            new BatchProducerOptions
            {
                BatchSize = schedule.BatchSize,
                Linger = schedule.LingerMs is { } linger ? TimeSpan.FromMilliseconds(linger) : Timeout.InfiniteTimeSpan,
                BoundedCapacity = schedule.Capacity,
                MaxInFlightBatches = schedule.MaxInFlight,
                FailurePolicy = schedule.FaultPipeline ? FailurePolicy.FaultPipeline : FailurePolicy.ReportAndContinue,
                DrainTimeout = schedule.DrainMs is { } drain ? TimeSpan.FromMilliseconds(drain) : Timeout.InfiniteTimeSpan,
                CancellationToken = cancellation.Token,
                TimeProvider = time,
                EmitOutcomes = true,
                OutcomeBoundedCapacity = schedule.OutcomeCapacity,
            },
            handBack.Callbacks);
        var outcomes = new List<BatchOutcome<int>>();
        var outcomeReader = new ActionBlock<BatchOutcome<int>>(outcomes.Add);
        block.Outcomes.LinkTo(outcomeReader, new DataflowLinkOptions { PropagateCompletion = true });
        sink.IsBlockFinished = () => block.Completion.IsCompleted;
        handBack.Statistics = block.GetStatistics;

        var accepted = new List<int>();
        var nextSeq = new int[Producers];
        var sending = new (int Item, Task<bool> Task)?[Producers];
        var disposals = new List<Task>();
        bool completeCalled = false;

        void Settle()
        {
            Quiescence.Wait(baseline);
            for (int p = 0; p < Producers; p++)
            {
                if (sending[p] is { } send && send.Task.IsCompleted)
                {
                    if (send.Task.Result)
                    {
                        accepted.Add(send.Item);
                    }

                    sending[p] = null;
                }
            }

            RequireRunningInvariant(block.GetStatistics(), "after a step");
        }

        foreach (Step step in schedule.Steps)
        {
            switch (step.Kind)
            {
                case Kind.Post when sending[step.Value] is null:
                    int posted = (step.Value * ProducerStride) + nextSeq[step.Value]++;
                    if (block.Post(posted))
                    {
                        Require(!completeCalled, $"Post({posted}) accepted after Complete()");
                        accepted.Add(posted);
                    }

                    break;

                case Kind.Send when sending[step.Value] is null:
                    int sent = (step.Value * ProducerStride) + nextSeq[step.Value]++;
                    sending[step.Value] = (sent, block.SendAsync(sent));
                    break;

                case Kind.Advance:
                    time.Advance(TimeSpan.FromMilliseconds(step.Value));
                    break;

                case Kind.Ack:
                    sink.Acknowledge(step.Value, step.FailMask, step.AbandonMask, step.FaultAck);
                    break;

                case Kind.ReleaseHang:
                    sink.ReleaseHang(step.Value);
                    break;

                case Kind.ScriptAccept:
                    sink.Script((AcceptMode)step.Value);
                    break;

                case Kind.Complete:
                    block.Complete();
                    completeCalled = true;
                    break;

                case Kind.Fault:
                    ((IDataflowBlock)block).Fault(new InvalidOperationException("faulted by the schedule"));
                    break;

                case Kind.Cancel:
                    cancellation.Cancel();
                    break;

                case Kind.Dispose:
                    disposals.Add(block.DisposeAsync().AsTask());
                    completeCalled = true;
                    break;
            }

            Settle();
        }

        // Finish: Complete, then keep acknowledging (delivered) and releasing hung accepts until the block finishes.
        block.Complete();
        completeCalled = true;
        var stopwatch = Stopwatch.StartNew();
        while (!block.Completion.IsCompleted)
        {
            Settle();
            while (sink.Acknowledge(0))
            {
            }

            while (sink.ReleaseHang(0))
            {
            }

            Settle();
            Require(stopwatch.Elapsed < HangBound, $"Completion did not finish within {HangBound} after Complete() with every acknowledgement completed: {block.GetStatistics()}");
        }

        Require(Task.WhenAll(disposals).Wait(HangBound), "DisposeAsync did not finish after Completion");
        while (sink.ReleaseHang(0))
        {
        }

        Settle();
        for (int p = 0; p < Producers; p++)
        {
            if (sending[p] is { } send)
            {
                Require(send.Task.Wait(HangBound), $"SendAsync({send.Item}) still pending after Completion");
                if (send.Task.Result)
                {
                    accepted.Add(send.Item);
                }
            }
        }

        Require(!block.Post(-1), "Post accepted after Completion");
        int callsAtCompletion = sink.Calls.Count;
        Settle();
        Require(sink.Calls.Count == callsAtCompletion, "AcceptAsync called after Completion");
        Require(sink.Violations.Count == 0, string.Join("; ", sink.Violations));

        Require(outcomeReader.Completion.Wait(HangBound), "the outcomes source did not complete after Completion");
        CheckOutcomes(schedule, block, sink, handBack, accepted);
        CheckOutcomeSource(block, sink, handBack, accepted, outcomes);
        Totals.Add(block.GetStatistics(), sink.Calls.Count, block.Completion.Status);
    }

    private static void CheckOutcomes(Schedule schedule, BatchProducerBlock<int> block, ScriptedSink sink, HandBackRecorder handBack, List<int> accepted)
    {
        BatchProducerStatistics s = block.GetStatistics();
        var failed = handBack.Failed;
        var abandoned = handBack.Abandoned;
        Require(handBack.Violations.Count == 0, string.Join("; ", handBack.Violations));

        // Accounting.
        Require(s.Accepted == accepted.Count, $"Accepted {s.Accepted} but {accepted.Count} posts/sends returned true");
        Require(s.Accepted == s.Delivered + s.Failed + s.Abandoned, $"final accounting broken: {s}");
        Require(s.InFlight == 0, $"items in flight after completion: {s}");
        Require(s.Failed == failed.Count, $"Failed {s.Failed} but ItemFailed called {failed.Count} times");
        Require(s.Abandoned == abandoned.Count, $"Abandoned {s.Abandoned} but ItemsAbandoned handed back {abandoned.Count} items");

        // Every accepted item in exactly one outcome: failed and abandoned each at most once, never both, nothing
        // foreign; the rest is what the block calls delivered, and the sink must have said so.
        var acceptedSet = accepted.ToHashSet();
        Require(acceptedSet.Count == accepted.Count, "an item was accepted twice");
        var failedItems = failed.Select(f => f.Item).ToList();
        Require(failedItems.Distinct().Count() == failedItems.Count, "an item was reported failed twice");
        Require(abandoned.Distinct().Count() == abandoned.Count, $"an item was abandoned twice: {string.Join(",", abandoned)}");
        Require(!failedItems.Intersect(abandoned).Any(), "an item was both failed and abandoned");
        Require(failedItems.Concat(abandoned).All(acceptedSet.Contains), "an item that was never accepted was handed back");
        Require(failed.All(f => f.Error is not null), "a failed item without an error");
        var sinkFailed = sink.FailedBySink;
        Require(failedItems.All(sinkFailed.Contains), "an item was reported failed that the sink never failed");
        var delivered = acceptedSet.Except(failedItems).Except(abandoned).ToList();
        Require(delivered.Count == s.Delivered, $"{delivered.Count} items neither failed nor abandoned, but Delivered = {s.Delivered}");
        var sinkDelivered = sink.DeliveredBySink;
        Require(delivered.All(sinkDelivered.Contains), $"items counted delivered that the sink never delivered: {string.Join(",", delivered.Where(i => !sinkDelivered.Contains(i)).Take(10))}");

        // What reached the sink: each accepted item at most once, batches within size, producers' order kept.
        var calls = sink.Calls;
        var sunk = calls.SelectMany(b => b).ToList();
        Require(calls.All(b => b.Length >= 1 && b.Length <= schedule.BatchSize), "a batch was empty or larger than BatchSize");
        Require(sunk.Distinct().Count() == sunk.Count, "an item was handed to the sink twice");
        Require(sunk.All(acceptedSet.Contains), "the sink got an item that was never accepted");
        for (int p = 0; p < Producers; p++)
        {
            var own = sunk.Where(i => i / ProducerStride == p).ToList();
            Require(own.Zip(own.Skip(1)).All(pair => pair.First < pair.Second), $"producer {p}'s items reached the sink out of order: {string.Join(",", own)}");
        }

        // The completion contract.
        Task completion = block.Completion;
        if (s.Failed == 0 && s.Abandoned == 0)
        {
            Require(completion.Status is TaskStatus.RanToCompletion or TaskStatus.Canceled || completion.Exception?.InnerException is BatchProducerException<int>, $"Completion is {completion.Status}");
        }
        else
        {
            Require(completion.IsFaulted && completion.Exception!.InnerException is BatchProducerException<int>, $"Completion is {completion.Status} with {s.Failed} failed and {s.Abandoned} abandoned");
            var ex = (BatchProducerException<int>)completion.Exception!.InnerException!;
            Require(ex.AbandonedItems.Order().SequenceEqual(abandoned.Order()), "BatchProducerException.AbandonedItems differs from what ItemsAbandoned handed back");
            Require(ex.FailedItems.Select(f => f.Key).Order().SequenceEqual(failedItems.Order()), "BatchProducerException.FailedItems differs from what ItemFailed reported");
            string counts = string.Create(CultureInfo.InvariantCulture, $"{s.Accepted} accepted, {s.Delivered} delivered, {s.Failed} failed, {s.Abandoned} abandoned");
            Require(ex.Message.Contains(counts, StringComparison.Ordinal), $"the completion message does not give the counts ({counts}): {ex.Message}");
            // Batches is left out: a sink that ignores cancellation may still return from a batch handed to it
            // before the abort, and that batch is counted when the call returns (its items were abandoned already).
            Require(ex.Statistics with { Batches = s.Batches } == s, $"the exception's statistics {ex.Statistics} differ from {s}");
        }

        if (completion.IsCompletedSuccessfully)
        {
            Require(sink.Flushes == 1, $"a successful completion flushed the sink {sink.Flushes} times");
        }
    }

    // DESIGN 4.16, 4.17: one outcome per accepted item, in acceptance order, agreeing with the counts and hand-backs;
    // nothing called not sent ever reached the sink.
    private static void CheckOutcomeSource(BatchProducerBlock<int> block, ScriptedSink sink, HandBackRecorder handBack, List<int> accepted, List<BatchOutcome<int>> outcomes)
    {
        BatchProducerStatistics s = block.GetStatistics();
        ItemOutcome<int>[] items = [.. outcomes.SelectMany(o => o)];
        Require(outcomes.Zip(outcomes.Skip(1)).All(pair => pair.First.Number < pair.Second.Number), $"batch outcomes out of order: {string.Join(",", outcomes.Select(o => o.Number))}");
        Require(items.Length == s.Accepted, $"{items.Length} outcomes for {s.Accepted} accepted items");
        Require(items.Select(o => o.Item).Order().SequenceEqual(accepted.Order()), "the outcomes are not exactly the accepted items");
        for (int p = 0; p < Producers; p++)
        {
            var own = items.Select(o => o.Item).Where(i => i / ProducerStride == p).ToList();
            Require(own.Zip(own.Skip(1)).All(pair => pair.First < pair.Second), $"producer {p}'s outcomes out of acceptance order: {string.Join(",", own)}");
        }

        var sunk = sink.Calls.SelectMany(b => b).ToList();
        var inOutcomeOrder = items.Select(o => o.Item).Where(sunk.ToHashSet().Contains).ToList();
        Require(inOutcomeOrder.SequenceEqual(sunk), "outcomes of items the sink got are not in the order the sink got them");

        List<int> Of(OutcomeStatus status) => [.. items.Where(o => o.Status == status).Select(o => o.Item)];
        Require(Of(OutcomeStatus.Delivered).Count == s.Delivered && Of(OutcomeStatus.Failed).Count == s.Failed && Of(OutcomeStatus.NotSent).Count == s.NotSent && Of(OutcomeStatus.Unknown).Count == s.Unknown, $"outcome counts differ from {s}");
        Require(s.NotSent + s.Unknown == s.Abandoned, $"Abandoned is not NotSent + Unknown: {s}");
        Require(Of(OutcomeStatus.Failed).Order().SequenceEqual(handBack.Failed.Select(f => f.Item).Order()), "failed outcomes differ from ItemFailed");
        Require(Of(OutcomeStatus.NotSent).Concat(Of(OutcomeStatus.Unknown)).Order().SequenceEqual(handBack.Abandoned.Order()), "abandoned outcomes differ from ItemsAbandoned");
        Require(!Of(OutcomeStatus.NotSent).Intersect(sunk).Any(), $"items called not sent reached the sink: {string.Join(",", Of(OutcomeStatus.NotSent).Intersect(sunk).Take(10))}");
        Require(items.Where(o => o.Status != OutcomeStatus.Delivered).All(o => o.Error is not null), "an outcome that is not delivered has no error");
        if (block.Completion.Exception?.InnerException is BatchProducerException<int> ex)
        {
            Require(ex.NotSentItems.Order().SequenceEqual(Of(OutcomeStatus.NotSent).Order()) && ex.UnknownItems.Order().SequenceEqual(Of(OutcomeStatus.Unknown).Order()), "the exception's not-sent/unknown items differ from the outcomes");
        }
    }

    private static void RequireRunningInvariant(BatchProducerStatistics s, string when) =>
        Require(s.Accepted >= s.Delivered + s.Failed + s.Abandoned + s.InFlight && s.InFlight >= 0, $"running invariant broken {when}: {s}");

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new PropertyViolationException(message);
        }
    }

    private readonly record struct Step(Kind Kind, int Value, int FailMask = 0, int AbandonMask = 0, bool FaultAck = false)
    {
        public override string ToString() => Kind switch
        {
            Kind.Post or Kind.Send => $"{Kind}(p{Value})",
            Kind.Advance => $"Advance({Value})",
            Kind.Ack => FaultAck ? $"AckFault(#{Value})" : $"Ack(#{Value},fail={FailMask:x},abandon={AbandonMask:x})",
            Kind.ReleaseHang => $"ReleaseHang(#{Value})",
            Kind.ScriptAccept => $"NextAccept({(AcceptMode)Value})",
            _ => Kind.ToString(),
        };
    }

    private sealed record Schedule(int BatchSize, int? LingerMs, int Capacity, int MaxInFlight, bool FaultPipeline, int? DrainMs, int OutcomeCapacity, Step[] Steps)
    {
        public override string ToString()
        {
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"BatchSize {BatchSize}, Linger {(LingerMs is { } l ? l + " ms" : "infinite")}, Capacity {Capacity}, MaxInFlight {MaxInFlight}, ");
            text.Append(CultureInfo.InvariantCulture, $"{(FaultPipeline ? "FaultPipeline" : "ReportAndContinue")}, Drain {(DrainMs is { } d ? d + " ms" : "infinite")}, Outcomes {OutcomeCapacity}: ");
            text.AppendJoin(' ', Steps);
            return text.ToString();
        }
    }

    /// <summary>What the schedules exercised, so a run shows it did more than post into a void.</summary>
    private sealed class RunTotals
    {
        private long _accepted;
        private long _delivered;
        private long _failed;
        private long _abandoned;
        private long _notSent;
        private long _sinkCalls;
        private long _succeeded;
        private long _faulted;
        private long _canceled;

        public void Add(BatchProducerStatistics s, int sinkCalls, TaskStatus status)
        {
            Interlocked.Add(ref _accepted, s.Accepted);
            Interlocked.Add(ref _delivered, s.Delivered);
            Interlocked.Add(ref _failed, s.Failed);
            Interlocked.Add(ref _abandoned, s.Abandoned);
            Interlocked.Add(ref _notSent, s.NotSent);
            Interlocked.Add(ref _sinkCalls, sinkCalls);
            Interlocked.Increment(ref status == TaskStatus.RanToCompletion ? ref _succeeded : ref status == TaskStatus.Faulted ? ref _faulted : ref _canceled);
        }

        public override string ToString() =>
            $"accepted {_accepted}, delivered {_delivered}, failed {_failed}, abandoned {_abandoned} ({_notSent} not sent, {_abandoned - _notSent} unknown), sink calls {_sinkCalls}; completions: {_succeeded} succeeded, {_faulted} faulted, {_canceled} canceled";
    }
}
