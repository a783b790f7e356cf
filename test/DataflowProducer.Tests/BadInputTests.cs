using System.Threading.Tasks.Dataflow;
using DataflowProducer.Tests.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace DataflowProducer.Tests;

// The pipeline's half of the bad-input matrix (the Kafka half is in DataflowProducer.Kafka.Tests/Reliability): misuse
// of the block and broken sinks. Each test checks that the offending item or call is reported with a clear error, that
// everything else is delivered or handed back, and that Completion finishes. Items are 1..n, batches of 2, one-hour
// linger: batches are cut only by count or Complete().
public class BadInputTests
{
    private FakeTimeProvider _time = null!;
    private ScriptedSink _sink = null!;
    private HandBackRecorder _handBack = null!;

    [SetUp]
    public void SetUp()
    {
        _time = new FakeTimeProvider();
        _sink = new ScriptedSink();
        _handBack = new HandBackRecorder();
    }

    private BatchProducerBlock<int> CreateSut(TimeSpan? drainTimeout = null, CancellationToken? pipelineToken = null) =>
        new(
            _sink,
            new BatchProducerOptions
            {
                BatchSize = 2,
                Linger = TimeSpan.FromHours(1),
                DrainTimeout = drainTimeout ?? Timeout.InfiniteTimeSpan,
                CancellationToken = pipelineToken ?? CancellationToken.None,
                TimeProvider = _time,
            },
            _handBack.Callbacks);

    private static void PostAll(BatchProducerBlock<int> block, params int[] items)
    {
        foreach (int item in items)
        {
            Assert.That(block.Post(item), Is.True, $"Post({item})");
        }
    }

    private static async Task<Exception?> ExceptionOf(Task task, CancellationToken ct)
    {
        try
        {
            await task.WaitAsync(ct);
            return null;
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            return ex;
        }
    }

    private static void AssertExact(BatchProducerStatistics s, long accepted, long delivered, long failed, long notSent = 0, long unknown = 0) =>
        Assert.That(s with { Batches = 0 }, Is.EqualTo(new BatchProducerStatistics(accepted, 0, delivered, failed, notSent + unknown, 0) { NotSent = notSent, Unknown = unknown }));

    private int[] AbandonedItems => [.. _handBack.Abandoned.Order()];

    [Test, CancelAfter(10_000)]
    public async Task Post_AfterComplete_DeclinedNotCountedAndEarlierItemsDelivered(CancellationToken ct)
    {
        var block = CreateSut();
        PostAll(block, 1, 2, 3);
        block.Complete();

        bool late = block.Post(4);
        bool lateSend = await block.SendAsync(5, ct);
        await _sink.WhenCalls(2).WaitAsync(ct);
        while (_sink.Acknowledge(0))
        {
        }

        await block.Completion.WaitAsync(ct);
        Assert.Multiple(() =>
        {
            Assert.That(late, Is.False, "Post after Complete");
            Assert.That(lateSend, Is.False, "SendAsync after Complete");
            Assert.That(_sink.Calls.SelectMany(b => b), Is.EqualTo(new[] { 1, 2, 3 }));
            AssertExact(block.GetStatistics(), accepted: 3, delivered: 3, failed: 0);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Complete_Twice_DrainsAndFlushesOnceAndSucceeds(CancellationToken ct)
    {
        var block = CreateSut();
        PostAll(block, 1, 2, 3);

        block.Complete();
        block.Complete();
        await _sink.WhenCalls(2).WaitAsync(ct);
        while (_sink.Acknowledge(0))
        {
        }

        await block.Completion.WaitAsync(ct);
        block.Complete();
        Assert.Multiple(() =>
        {
            Assert.That(_sink.Flushes, Is.EqualTo(1));
            Assert.That(_sink.Calls, Has.Count.EqualTo(2));
            AssertExact(block.GetStatistics(), accepted: 3, delivered: 3, failed: 0);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task DisposeAsync_Twice_BothReturnAfterOneDrainAndNothingIsLost(CancellationToken ct)
    {
        var block = CreateSut();
        PostAll(block, 1, 2, 3);

        Task first = block.DisposeAsync().AsTask();
        Task second = block.DisposeAsync().AsTask();
        await _sink.WhenCalls(2).WaitAsync(ct);
        while (_sink.Acknowledge(0))
        {
        }

        await Task.WhenAll(first, second).WaitAsync(ct);
        await block.DisposeAsync().AsTask().WaitAsync(ct);
        Assert.Multiple(() =>
        {
            Assert.That(block.Completion.IsCompletedSuccessfully, Is.True, block.Completion.Status.ToString());
            Assert.That(_sink.Flushes, Is.EqualTo(1));
            AssertExact(block.GetStatistics(), accepted: 3, delivered: 3, failed: 0);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Fault_DuringDrain_UndeliveredItemsHandedBackAndCompletionNamesTheFault(CancellationToken ct)
    {
        var block = CreateSut();
        PostAll(block, 1, 2, 3, 4, 5);
        block.Complete();
        await _sink.WhenCalls(3).WaitAsync(ct);
        _sink.Acknowledge(0);

        ((IDataflowBlock)block).Fault(new InvalidOperationException("stopped by the operator"));
        Exception? completion = await ExceptionOf(block.Completion, ct);

        Assert.That(completion, Is.TypeOf<BatchProducerException<int>>());
        var ex = (BatchProducerException<int>)completion!;
        Assert.Multiple(() =>
        {
            Assert.That(ex.Message, Does.Contain("5 accepted, 2 delivered, 0 failed, 3 abandoned").And.Contain("stopped by the operator"));
            Assert.That(ex.InnerException, Is.TypeOf<InvalidOperationException>());
            Assert.That(AbandonedItems, Is.EqualTo(new[] { 3, 4, 5 }));
            Assert.That(ex.AbandonedItems.Order(), Is.EqualTo(new[] { 3, 4, 5 }));
            AssertExact(block.GetStatistics(), accepted: 5, delivered: 2, failed: 0, unknown: 3);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task CancellationToken_CanceledDuringDrain_UndeliveredItemsHandedBackAndCompletionSaysCanceled(CancellationToken ct)
    {
        using var cancellation = new CancellationTokenSource();
        var block = CreateSut(pipelineToken: cancellation.Token);
        PostAll(block, 1, 2, 3, 4, 5);
        block.Complete();
        await _sink.WhenCalls(3).WaitAsync(ct);
        _sink.Acknowledge(0);

        await cancellation.CancelAsync();
        Exception? completion = await ExceptionOf(block.Completion, ct);

        Assert.That(completion, Is.TypeOf<BatchProducerException<int>>());
        Assert.Multiple(() =>
        {
            Assert.That(completion!.Message, Does.Contain("3 abandoned").And.Contain("canceled"));
            Assert.That(completion.InnerException, Is.InstanceOf<OperationCanceledException>());
            Assert.That(AbandonedItems, Is.EqualTo(new[] { 3, 4, 5 }));
            AssertExact(block.GetStatistics(), accepted: 5, delivered: 2, failed: 0, unknown: 3);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task AcceptAsync_SinkThrowsForSecondBatch_ThatBatchAndAllLaterItemsHandedBackWithTheSinkError(CancellationToken ct)
    {
        var block = CreateSut();
        PostAll(block, 1, 2);
        await _sink.WhenCalls(1).WaitAsync(ct);
        _sink.Acknowledge(0);
        _sink.Script(AcceptMode.Throw);
        PostAll(block, 3, 4);

        // [3, 4] goes to the sink at once; the item after it is accepted only if it comes before the abort does.
        bool fifthAccepted = block.Post(5);
        int[] lost = fifthAccepted ? [3, 4, 5] : [3, 4];
        Exception? completion = await ExceptionOf(block.Completion, ct);

        Assert.That(completion, Is.TypeOf<BatchProducerException<int>>());
        Assert.Multiple(() =>
        {
            Assert.That(completion!.InnerException, Is.TypeOf<SinkBrokenException>().With.Message.Contains("The sink is broken (batch starting with 3)"));
            Assert.That(completion.Message, Does.Contain($"{2 + lost.Length} accepted, 2 delivered, 0 failed, {lost.Length} abandoned"));
            Assert.That(AbandonedItems, Is.EqualTo(lost));
            Assert.That(_handBack.AbandonedWithReasons.Where(a => a.Item is 3 or 4).Select(a => a.Reason), Is.All.TypeOf<SinkBrokenException>());
            Assert.That(block.Post(6), Is.False, "Post after the sink broke");
            AssertExact(block.GetStatistics(), accepted: 2 + lost.Length, delivered: 2, failed: 0, notSent: lost.Length - 2, unknown: 2);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task DrainTimeout_AcknowledgementNeverCompletes_UnacknowledgedItemsHandedBackAndCompletionNamesTheTimeout(CancellationToken ct)
    {
        var block = CreateSut(drainTimeout: TimeSpan.FromMilliseconds(500));
        PostAll(block, 1, 2, 3);
        await _sink.WhenCalls(1).WaitAsync(ct);
        _sink.Acknowledge(0);
        block.Complete();
        await _sink.WhenCalls(2).WaitAsync(ct);

        _time.Advance(TimeSpan.FromMilliseconds(500));
        Exception? completion = await ExceptionOf(block.Completion, ct);

        Assert.That(completion, Is.TypeOf<BatchProducerException<int>>());
        Assert.Multiple(() =>
        {
            Assert.That(completion!.Message, Does.Contain("3 accepted, 2 delivered, 0 failed, 1 abandoned").And.Contain("drain did not finish within the drain timeout (00:00:00.5000000)"));
            Assert.That(AbandonedItems, Is.EqualTo(new[] { 3 }));
            AssertExact(block.GetStatistics(), accepted: 3, delivered: 2, failed: 0, unknown: 1);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task ItemFailed_SinkRejectsOneItem_OnlyThatItemReportedWithItsErrorRestDelivered(CancellationToken ct)
    {
        var block = CreateSut();
        PostAll(block, 1, 2, 3, 4);
        await _sink.WhenCalls(2).WaitAsync(ct);
        _sink.Acknowledge(0);
        _sink.Acknowledge(0, failMask: 0b01);
        block.Complete();

        Exception? completion = await ExceptionOf(block.Completion, ct);

        Assert.Multiple(() =>
        {
            Assert.That(_handBack.Failed.Select(f => f.Item), Is.EqualTo(new[] { 3 }));
            Assert.That(_handBack.Failed[0].Error, Is.TypeOf<ItemRejectedException>().With.Message.EqualTo("item 3 rejected by the sink"));
            Assert.That(_handBack.Abandoned, Is.Empty);
            Assert.That(completion, Is.TypeOf<BatchProducerException<int>>().With.Message.Contains("4 accepted, 3 delivered, 1 failed, 0 abandoned"));
            Assert.That(((BatchProducerException<int>)completion!).FailedItems.Select(f => f.Key), Is.EqualTo(new[] { 3 }));
            AssertExact(block.GetStatistics(), accepted: 4, delivered: 3, failed: 1);
        });
    }
}
