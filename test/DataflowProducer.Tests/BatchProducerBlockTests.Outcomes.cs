using System.Threading.Tasks.Dataflow;
using DataflowProducer.Tests.TestSupport;
using Microsoft.Extensions.Time.Testing;
using NSubstitute;

namespace DataflowProducer.Tests;

// Outcomes (DESIGN 4.16, 4.17): one outcome per accepted item, in acceptance order, through a bounded source; the
// not-sent / unknown split; the settle time an abort gives what the sink holds.
public partial class BatchProducerBlockTests
{
    private static BatchProducerOptions OutcomeOptions(int batchSize = 3, int maxInFlightBatches = 8, int outcomeCapacity = 16, TimeProvider? time = null)
    {
        BatchProducerOptions options = Options(time: time, batchSize: batchSize, maxInFlightBatches: maxInFlightBatches);
        options.EmitOutcomes = true;
        options.OutcomeBoundedCapacity = outcomeCapacity;
        return options;
    }

    // Reads every outcome the block emits until its source completes.
    private static async Task<List<BatchOutcome<int>>> ReadOutcomesAsync(BatchProducerBlock<int> block, CancellationToken ct)
    {
        var outcomes = new List<BatchOutcome<int>>();
        var reader = new ActionBlock<BatchOutcome<int>>(outcomes.Add);
        block.Outcomes.LinkTo(reader, new DataflowLinkOptions { PropagateCompletion = true });
        await reader.Completion.WaitAsync(ct);
        return outcomes;
    }

    [Test]
    public void Outcomes_NotEnabled_ThrowsNamingTheOption()
    {
        var block = CreateSut(new ManualSink().Sink);

        Assert.That(() => block.Outcomes, Throws.InvalidOperationException.With.Message.Contain("EmitOutcomes"));
    }

    [Test, CancelAfter(10_000)]
    public async Task Outcomes_EveryStatus_OneOutcomePerAcceptedItemInAcceptanceOrder(CancellationToken ct)
    {
        var sink = new ManualSink();
        var block = CreateSut(sink.Sink, OutcomeOptions());
        Task<List<BatchOutcome<int>>> reading = ReadOutcomesAsync(block, ct);
        PostAll(block, Enumerable.Range(0, 11));
        await sink.WaitForCallsAsync(3, ct);
        var failure = new InvalidOperationException("item 3 failed");
        var receipts = new[] { new DeliveryReceipt("t", 0, 100, null), new DeliveryReceipt("t", 1, 7, null), new DeliveryReceipt("t", 0, 101, null) };

        // The second batch is acknowledged first: outcomes still come in acceptance order.
        sink.Ack(1).SetResult(BatchResult.Create([new BatchItemError(0, failure)], abandoned: [1], notSent: [2]));
        sink.Ack(0).SetResult(BatchResult.Create(null, null, null, receipts));
        Fault(block, new InvalidOperationException("stop"));
        BatchProducerException<int> ex = await CompletionFault(block, ct);
        List<BatchOutcome<int>> outcomes = await reading;

        ItemOutcome<int>[] items = [.. outcomes.SelectMany(o => o)];
        BatchProducerStatistics s = block.GetStatistics();
        Assert.Multiple(() =>
        {
            Assert.That(items.Select(o => o.Item), Is.EqualTo(Enumerable.Range(0, 11)), "one outcome per accepted item, in order");
            Assert.That(items.Select(o => o.Status), Is.EqualTo(new[]
            {
                OutcomeStatus.Delivered, OutcomeStatus.Delivered, OutcomeStatus.Delivered,
                OutcomeStatus.Failed, OutcomeStatus.Unknown, OutcomeStatus.NotSent,
                OutcomeStatus.Unknown, OutcomeStatus.Unknown, OutcomeStatus.Unknown,
                OutcomeStatus.NotSent, OutcomeStatus.NotSent,
            }));
            Assert.That(items.Take(3).Select(o => o.Receipt), Is.EqualTo(receipts.Cast<DeliveryReceipt?>()));
            Assert.That(items[3].Error, Is.SameAs(failure));
            Assert.That(items.Skip(4).All(o => o.Error is not null && o.Receipt is null), Is.True, "every abandoned item says why");
            Assert.That(outcomes.Select(o => o.Number), Is.EqualTo(new long[] { 1, 2, 3, 4 }), "the items never batched come last");
            Assert.That(s with { Batches = 0 }, Is.EqualTo(new BatchProducerStatistics(11, 0, 3, 1, 7, 0) { NotSent = 3, Unknown = 4 }));
            Assert.That(items.Count(o => o.Status == OutcomeStatus.NotSent), Is.EqualTo(s.NotSent));
            Assert.That(items.Count(o => o.Status == OutcomeStatus.Unknown), Is.EqualTo(s.Unknown));
            Assert.That(outcomes.Sum(o => o.Delivered + o.Failed + o.NotSent + o.Unknown), Is.EqualTo(s.Accepted));
            Assert.That(ex.NotSentItems, Is.EqualTo(new[] { 5, 9, 10 }));
            Assert.That(ex.UnknownItems, Is.EqualTo(new[] { 4, 6, 7, 8 }));
            Assert.That(ex.Message, Does.Contain("7 abandoned (3 not sent, 4 unknown"));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Outcomes_SinkThrowsWhileEarlierBatchesWait_StillEmittedInAcceptanceOrder(CancellationToken ct)
    {
        // The third batch is settled first (its AcceptAsync throws), the two before it only when the pipeline
        // finishes: the source still emits them in acceptance order.
        var sink = Substitute.For<IBatchSink<int>>();
        var acks = new[] { new TaskCompletionSource<BatchResult>(), new TaskCompletionSource<BatchResult>() };
        int calls = 0;
        SetupAccept(sink, _ => Interlocked.Increment(ref calls) switch
        {
            1 => new(acks[0].Task),
            2 => new(acks[1].Task),
            _ => throw new InvalidOperationException("the sink broke"),
        });
        sink.FlushAsync(Arg.Any<TimeSpan>(), Arg.Any<CancellationToken>()).Returns(_ =>
        {
            acks[1].TrySetResult(BatchResult.AllDelivered);
            return Task.CompletedTask;
        });
        var block = CreateSut(sink, OutcomeOptions(batchSize: 2));
        Task<List<BatchOutcome<int>>> reading = ReadOutcomesAsync(block, ct);

        PostAll(block, Enumerable.Range(0, 6));
        BatchProducerException<int> ex = await CompletionFault(block, ct);
        List<BatchOutcome<int>> outcomes = await reading;

        Assert.Multiple(() =>
        {
            Assert.That(outcomes.Select(o => o.Number), Is.EqualTo(new long[] { 1, 2, 3 }));
            Assert.That(outcomes.Select(o => (o.Delivered, o.Unknown)), Is.EqualTo(new[] { (0, 2), (2, 0), (0, 2) }));
            Assert.That(ex.Statistics, Is.EqualTo(new BatchProducerStatistics(6, 3, 2, 0, 4, 0) { Unknown = 4 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Outcomes_CleanRun_ReaderLinkedWithPropagateCompletionCompletesAfterTheLastOutcome(CancellationToken ct)
    {
        var sink = new ManualSink { AutoAcknowledge = _ => BatchResult.AllDelivered };
        var block = CreateSut(sink.Sink, OutcomeOptions(batchSize: 4));
        Task<List<BatchOutcome<int>>> reading = ReadOutcomesAsync(block, ct);

        PostAll(block, Enumerable.Range(0, 10));
        block.Complete();
        await block.Completion.WaitAsync(ct);
        List<BatchOutcome<int>> outcomes = await reading;

        Assert.Multiple(() =>
        {
            Assert.That(outcomes.Select(o => o.Count), Is.EqualTo(new[] { 4, 4, 2 }), "the last partial batch too");
            Assert.That(outcomes.SelectMany(o => o).Select(o => o.Item), Is.EqualTo(Enumerable.Range(0, 10)));
            Assert.That(outcomes.SelectMany(o => o).All(o => o is { Status: OutcomeStatus.Delivered, Error: null, Receipt: null }), Is.True);
            Assert.That(block.Outcomes.Completion.IsCompletedSuccessfully, Is.True);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Outcomes_ReaderFallsBehind_PipelineHeldBackThenResumesWithNothingLost(CancellationToken ct)
    {
        var sink = new ManualSink { AutoAcknowledge = _ => BatchResult.AllDelivered };
        BatchProducerOptions options = OutcomeOptions(batchSize: 2, maxInFlightBatches: 1, outcomeCapacity: 1);
        options.BoundedCapacity = 4;
        var block = CreateSut(sink.Sink, options);
        Task<bool>[] sends = [.. Enumerable.Range(0, 40).Select(i => block.SendAsync(i, ct))];

        // Nobody reads: one outcome in the source, one waiting to enter it, one batch acknowledged but not reported
        // (it holds the only window slot), and the capacity full behind them. The three calls are awaited, and the
        // quiet pool then shows that no fourth follows.
        await sink.WaitForCallsAsync(3, ct);
        Quiescence.Wait(PoolBaseline.Take());
        int callsWhileHeld = sink.Batches.Count;
        int sendsDone = sends.Count(t => t.IsCompleted);

        Task<List<BatchOutcome<int>>> reading = ReadOutcomesAsync(block, ct);
        await Task.WhenAll(sends).WaitAsync(ct);
        block.Complete();
        await block.Completion.WaitAsync(ct);
        List<BatchOutcome<int>> outcomes = await reading;

        Assert.Multiple(() =>
        {
            Assert.That(callsWhileHeld, Is.EqualTo(3), "batches handed to the sink while the reader read nothing");
            Assert.That(sendsDone, Is.LessThanOrEqualTo(3 * 2 + 4), "posters wait once the capacity is full");
            Assert.That(sends.All(t => t.Result), Is.True, "every send was accepted in the end");
            Assert.That(outcomes.SelectMany(o => o).Select(o => o.Item), Is.EqualTo(Enumerable.Range(0, 40)));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Outcomes_ReaderFaultsTheSource_PipelineStillFinishesAndCounts(CancellationToken ct)
    {
        var sink = new ManualSink { AutoAcknowledge = _ => BatchResult.AllDelivered };
        var block = CreateSut(sink.Sink, OutcomeOptions(batchSize: 2, outcomeCapacity: 1));
        block.Outcomes.Fault(new InvalidOperationException("the reader gave up"));

        PostAll(block, Enumerable.Range(0, 20));
        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.That(block.GetStatistics() with { Batches = 0 }, Is.EqualTo(new BatchProducerStatistics(20, 0, 20, 0, 0, 0)));
    }

    [Test, CancelAfter(10_000)]
    public async Task Outcomes_ItemsDeliveredCallback_DeliveredItemsOncePerBatchInOrder(CancellationToken ct)
    {
        var sink = new ManualSink { AutoAcknowledge = b => b[0] == 3 ? BatchResult.Create([new BatchItemError(1, new InvalidOperationException("bad"))]) : BatchResult.AllDelivered };
        var delivered = new List<int[]>();
        var block = new BatchProducerBlock<int>(sink.Sink, Options(batchSize: 3), new BatchProducerCallbacks<int> { ItemsDelivered = items => delivered.Add([.. items]) });

        PostAll(block, Enumerable.Range(0, 8));
        block.Complete();
        _ = await ExceptionOf(block.Completion, ct);

        Assert.That(delivered, Is.EqualTo(new[] { new[] { 0, 1, 2 }, new[] { 3, 5 }, new[] { 6, 7 } }));
    }

    [Test, CancelAfter(10_000)]
    public async Task HandBack_SinkReportsNotSentAndUnknown_EachCallbackGetsItsGroupAfterItemsAbandoned(CancellationToken ct)
    {
        var sink = new ManualSink { AutoAcknowledge = _ => BatchResult.Create(null, abandoned: [0, 2], notSent: [1, 3]) };
        var calls = new List<string>();
        var block = new BatchProducerBlock<int>(sink.Sink, Options(batchSize: 4), new BatchProducerCallbacks<int>
        {
            ItemsAbandoned = (items, _) => calls.Add("abandoned " + string.Join(",", items)),
            ItemsNotSent = (items, _) => calls.Add("not sent " + string.Join(",", items)),
            ItemsUnknown = (items, _) => calls.Add("unknown " + string.Join(",", items)),
        });

        PostAll(block, Enumerable.Range(10, 4));
        block.Complete();
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(calls, Is.EqualTo(new[] { "abandoned 10,12", "unknown 10,12", "abandoned 11,13", "not sent 11,13" }));
            Assert.That(ex.Statistics, Is.EqualTo(new BatchProducerStatistics(4, 1, 0, 0, 4, 0) { NotSent = 2, Unknown = 2 }));
            Assert.That(ex.AbandonedItems, Is.EqualTo(new[] { 10, 12, 11, 13 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task SettleTime_AbortWhileBatchesInFlight_FlushGetsTheSettleTimeAndOutcomesItReportsCount(CancellationToken ct)
    {
        var sink = new ManualSink();
        TimeSpan? flushTimeout = null;
        sink.Sink.FlushAsync(Arg.Any<TimeSpan>(), Arg.Any<CancellationToken>()).Returns(call =>
        {
            // What a Kafka client does in its last flush: the delivery reports still on their way come in.
            flushTimeout = call.Arg<TimeSpan>();
            sink.Ack(0).TrySetResult(BatchResult.AllDelivered);
            sink.Ack(1).TrySetResult(BatchResult.Create(null, abandoned: [2]));
            return Task.CompletedTask;
        });
        BatchProducerOptions options = Options(batchSize: 3);
        options.SettleTime = TimeSpan.FromSeconds(3);
        var block = CreateSut(sink.Sink, options);
        PostAll(block, Enumerable.Range(0, 7));
        await sink.WaitForCallsAsync(2, ct);

        Fault(block, new InvalidOperationException("stop"));
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(flushTimeout, Is.EqualTo(TimeSpan.FromSeconds(3)));
            Assert.That(ex.Statistics, Is.EqualTo(new BatchProducerStatistics(7, 2, 5, 0, 2, 0) { NotSent = 1, Unknown = 1 }), "delivered during the settle time counts as delivered");
            Assert.That(ex.UnknownItems, Is.EqualTo(new[] { 5 }));
            Assert.That(ex.NotSentItems, Is.EqualTo(new[] { 6 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task SettleTime_AbortDuringADrain_CutToWhatIsLeftOfTheDrain(CancellationToken ct)
    {
        var time = new FakeTimeProvider();
        var sink = new ManualSink();
        TimeSpan? flushTimeout = null;
        sink.Sink.FlushAsync(Arg.Any<TimeSpan>(), Arg.Any<CancellationToken>()).Returns(call =>
        {
            flushTimeout = call.Arg<TimeSpan>();
            return Task.CompletedTask;
        });
        BatchProducerOptions options = Options(time: time, batchSize: 3);
        options.SettleTime = TimeSpan.FromSeconds(5);
        var block = CreateSut(sink.Sink, options);
        PostAll(block, Enumerable.Range(0, 3));
        await sink.WaitForCallsAsync(1, ct);

        block.Complete();
        time.Advance(DrainTimeout - TimeSpan.FromSeconds(1));
        Fault(block, new InvalidOperationException("stop"));
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(flushTimeout, Is.EqualTo(TimeSpan.FromSeconds(1)), "the settle time never outlasts the drain");
            Assert.That(ex.Statistics.Unknown, Is.EqualTo(3));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task SettleTime_AfterADrainTimeout_NoSecondFlushAndWhatIsLeftIsUnknown(CancellationToken ct)
    {
        var time = new FakeTimeProvider();
        var sink = new ManualSink();
        var block = CreateSut(sink.Sink, Options(time: time, batchSize: 3));
        PostAll(block, Enumerable.Range(0, 4));
        await sink.WaitForCallsAsync(1, ct);

        block.Complete();
        await sink.WaitForCallsAsync(2, ct);
        time.Advance(DrainTimeout);
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(ex.InnerException, Is.TypeOf<TimeoutException>());
            Assert.That(ex.Statistics, Is.EqualTo(new BatchProducerStatistics(4, 2, 0, 0, 4, 0) { Unknown = 4 }));
            sink.Sink.Received(1).FlushAsync(Arg.Any<TimeSpan>(), Arg.Any<CancellationToken>());
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task SettleTime_SinkReturnsFromAcceptSoonAfterTheAbort_WhatItSaysCounts(CancellationToken ct)
    {
        // A sink waiting for room (a full client queue) when the abort comes: it stops waiting and returns an
        // acknowledgement saying which items it never passed on. The pipeline waits for that, within the settle time.
        var sink = Substitute.For<IBatchSink<int>>();
        var called = new TaskCompletionSource();
        var canceled = new TaskCompletionSource();
        var returnNow = new TaskCompletionSource();
        SetupAccept(sink, call => AcceptAsync(call.Arg<CancellationToken>()));
        sink.FlushAsync(Arg.Any<TimeSpan>(), Arg.Any<CancellationToken>()).Returns(Task.CompletedTask);
        var block = CreateSut(sink, OutcomeOptions(batchSize: 5));
        Task<List<BatchOutcome<int>>> reading = ReadOutcomesAsync(block, ct);
        PostAll(block, Enumerable.Range(0, 5));
        await called.Task.WaitAsync(ct);

        Fault(block, new InvalidOperationException("stop"));
        await canceled.Task.WaitAsync(ct);
        Quiescence.Wait(PoolBaseline.Take());
        bool finishedBeforeTheSinkReturned = block.Completion.IsCompleted;
        returnNow.SetResult();
        BatchProducerException<int> ex = await CompletionFault(block, ct);
        List<BatchOutcome<int>> outcomes = await reading;

        Assert.Multiple(() =>
        {
            Assert.That(finishedBeforeTheSinkReturned, Is.False, "Completion waits for the sink call within the settle time");
            Assert.That(ex.Statistics with { Batches = 0 }, Is.EqualTo(new BatchProducerStatistics(5, 0, 0, 0, 5, 0) { NotSent = 3, Unknown = 2 }));
            Assert.That(outcomes.SelectMany(o => o).Select(o => o.Status), Is.EqualTo(new[] { OutcomeStatus.Unknown, OutcomeStatus.Unknown, OutcomeStatus.NotSent, OutcomeStatus.NotSent, OutcomeStatus.NotSent }));
        });

        async ValueTask<Task<BatchResult>> AcceptAsync(CancellationToken cancellationToken)
        {
            called.TrySetResult();
            try
            {
                // Waits for room that never comes, until the abort cancels the wait.
                await new TaskCompletionSource().Task.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                canceled.TrySetResult();
                await returnNow.Task;
            }

            return Task.FromResult(BatchResult.Create(null, abandoned: [0, 1], notSent: [2, 3, 4]));
        }
    }

    [Test, CancelAfter(10_000)]
    public async Task SettleTime_SinkIgnoresCancellationInAccept_GivenUpAfterTheSettleTimeAsUnknown(CancellationToken ct)
    {
        var time = new FakeTimeProvider();
        var sink = Substitute.For<IBatchSink<int>>();
        // Asynchronous continuations: the test must not run inside the sink call it is watching.
        var called = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        SetupAccept(sink, _ =>
        {
            called.TrySetResult();
            return new ValueTask<Task<BatchResult>>(new TaskCompletionSource<Task<BatchResult>>().Task);
        });
        sink.FlushAsync(Arg.Any<TimeSpan>(), Arg.Any<CancellationToken>()).Returns(Task.CompletedTask);
        BatchProducerOptions options = Options(time: time, batchSize: 3);
        options.SettleTime = TimeSpan.FromSeconds(4);
        var block = CreateSut(sink, options);
        PostAll(block, Enumerable.Range(0, 3));
        await called.Task.WaitAsync(ct);
        PoolBaseline baseline = PoolBaseline.Take();

        // Short of the settle time the pipeline waits; at the deadline it gives up, with no more time on the clock.
        // The clock stops at the deadline and Completion is awaited in real time, so a pool misjudged as quiet (a cold
        // start can keep one thread busy through the baseline) cannot carry the clock past a second deadline.
        Fault(block, new InvalidOperationException("stop"));
        bool completedEarly = false;
        for (int step = 0; step < 7 && !completedEarly; step++)
        {
            Quiescence.Wait(baseline);
            time.Advance(TimeSpan.FromMilliseconds(500));
            Quiescence.Wait(baseline);
            completedEarly = block.Completion.IsCompleted;
        }

        time.Advance(TimeSpan.FromMilliseconds(500));
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(completedEarly, Is.False, "the sink call gets the whole settle time");
            Assert.That(ex.Statistics.Unknown, Is.EqualTo(3));
        });
    }
}
