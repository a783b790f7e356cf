using System.Threading.Tasks.Dataflow;
using DataflowProducer.Testing;
using DataflowProducer.Tests.TestSupport;
using Microsoft.Extensions.Time.Testing;
using NSubstitute;

namespace DataflowProducer.Tests;

// The completion contract (DESIGN 4.8, 4.12): the last partial batch is never lost, Completion waits for every
// outcome and the flush, and Complete/DisposeAsync are idempotent.
public partial class BatchProducerBlockTests
{
    // The seed regression: a batch that will never fill and a linger that will never pass must still go out on Complete().
    [Test, CancelAfter(10_000)]
    public async Task Complete_HugeBatchAndLinger_SinkReceivesAll25(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int>();
        var block = new BatchProducerBlock<int>(sink, new BatchProducerOptions { BatchSize = 1_000_000, BoundedCapacity = 1_000_000, Linger = TimeSpan.FromHours(1), TimeProvider = new FakeTimeProvider() });

        for (int i = 0; i < 25; i++)
        {
            Assert.That(block.Post(i), Is.True);
        }

        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(sink.Items, Is.EqualTo(Enumerable.Range(0, 25)));
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(25, 1, 25, 0, 0, 0)));
            Assert.That(sink.FlushCount, Is.EqualTo(1));
        });
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(25)]
    [CancelAfter(10_000)]
    public async Task Complete_HugeBatchAndLingerWithSubstitutedSink_EveryItemDeliveredAndFlushedOnce(int count, CancellationToken ct)
    {
        var sink = new ManualSink { AutoAcknowledge = static _ => BatchResult.AllDelivered };
        var options = Options(batchSize: 1_000_000, boundedCapacity: 1_000_000);
        var block = CreateSut(sink.Sink, options);
        PostAll(block, Enumerable.Range(0, count));

        block.Complete();
        await block.Completion.WaitAsync(ct);

        BatchProducerStatistics s = block.GetStatistics();
        Assert.Multiple(() =>
        {
            Assert.That(sink.Items, Is.EqualTo(Enumerable.Range(0, count)));
            Assert.That(sink.Batches, Has.Count.EqualTo(count == 0 ? 0 : 1), "one batch, or none: never an empty batch");
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(count, count == 0 ? 0 : 1, count, 0, 0, 0)));
            AssertFinalInvariant(s);
        });
        await sink.Sink.Received(1).FlushAsync(Arg.Any<TimeSpan>(), Arg.Any<CancellationToken>());
    }

    [Test, CancelAfter(10_000)]
    public async Task Completion_AcknowledgementPending_WaitsForItThenFlushes(CancellationToken ct)
    {
        var sink = new ManualSink();
        var block = CreateSut(sink.Sink);
        PostAll(block, Enumerable.Range(0, 5));
        block.Complete();
        await sink.WaitForCallsAsync(1, ct);

        // Flush must come after the acknowledgement: record whether it was complete when the flush was called.
        var flushed = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        sink.Sink.When(s => s.FlushAsync(Arg.Any<TimeSpan>(), Arg.Any<CancellationToken>()))
            .Do(_ => flushed.TrySetResult(sink.Ack(0).Task.IsCompleted));
        sink.Ack(0).SetResult(BatchResult.AllDelivered);
        await block.Completion.WaitAsync(ct);

        Assert.Multiple(async () =>
        {
            Assert.That(await flushed.Task.WaitAsync(ct), Is.True, "flushed only after the acknowledgement");
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(5, 1, 5, 0, 0, 0)));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Completion_AcknowledgedPartWayIntoTheDrain_FlushGetsWhatIsLeftOfTheDrainTimeout(CancellationToken ct)
    {
        var time = new FakeTimeProvider();
        var sink = new ManualSink();
        var block = CreateSut(sink.Sink, Options(time));
        var flushTimeout = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        sink.Sink.When(s => s.FlushAsync(Arg.Any<TimeSpan>(), Arg.Any<CancellationToken>()))
            .Do(call => flushTimeout.TrySetResult(call.Arg<TimeSpan>()));
        PostAll(block, Enumerable.Range(0, 5));
        block.Complete();
        await sink.WaitForCallsAsync(1, ct);

        time.Advance(TimeSpan.FromSeconds(12));
        sink.Ack(0).SetResult(BatchResult.AllDelivered);
        await block.Completion.WaitAsync(ct);

        Assert.That(await flushTimeout.Task.WaitAsync(ct), Is.EqualTo(DrainTimeout - TimeSpan.FromSeconds(12)));
    }

    [Test, CancelAfter(10_000)]
    public async Task Complete_CalledTwice_DrainsOnceAndSucceeds(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int>();
        var block = CreateSut(sink);
        PostAll(block, Enumerable.Range(0, 3));

        block.Complete();
        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(sink.Items, Is.EqualTo(new[] { 0, 1, 2 }));
            Assert.That(sink.FlushCount, Is.EqualTo(1));
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(3, 1, 3, 0, 0, 0)));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Post_AfterComplete_ReturnsFalseAndIsNotCounted(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int>();
        var block = CreateSut(sink);
        PostAll(block, [1, 2]);
        block.Complete();

        bool posted = block.Post(3);
        bool sent = await block.SendAsync(4, ct);
        await block.Completion.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(posted, Is.False);
            Assert.That(sent, Is.False);
            Assert.That(sink.Items, Is.EqualTo(new[] { 1, 2 }));
            Assert.That(block.GetStatistics().Accepted, Is.EqualTo(2));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task DisposeAsync_CalledTwice_DrainsOnceAndCompletesSuccessfully(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int>();
        var block = CreateSut(sink);
        PostAll(block, Enumerable.Range(0, 15));

        await block.DisposeAsync().AsTask().WaitAsync(ct);
        await block.DisposeAsync().AsTask().WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(block.Completion.IsCompletedSuccessfully, Is.True);
            Assert.That(sink.Items, Is.EqualTo(Enumerable.Range(0, 15)));
            Assert.That(sink.FlushCount, Is.EqualTo(1));
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(15, 2, 15, 0, 0, 0)));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task DisposeAsync_ItemsUndelivered_DoesNotThrowAndCompletionCarriesThem(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int> { FailWhen = static i => i == 2 ? new InvalidOperationException("bad") : null };
        var block = CreateSut(sink);
        PostAll(block, Enumerable.Range(0, 4));

        await block.DisposeAsync().AsTask().WaitAsync(ct);

        BatchProducerException<int> ex = await CompletionFault(block, ct);
        Assert.Multiple(() =>
        {
            Assert.That(ex.FailedItems.Select(static f => f.Key), Is.EqualTo(new[] { 2 }));
            AssertFinalInvariant(block.GetStatistics());
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Complete_LinkedFromUpstreamWithPropagateCompletion_DeliversEveryItem(CancellationToken ct)
    {
        // A small capacity makes the buffer's offers postpone, so the linked path's consume-later route is used too.
        var sink = new RecordingBatchSink<int>();
        var block = CreateSut(sink, Options(batchSize: 5, boundedCapacity: 10, cancellationToken: CancellationToken.None));
        var upstream = new BufferBlock<int>();
        using IDisposable link = upstream.LinkTo(block, new DataflowLinkOptions { PropagateCompletion = true });

        for (int i = 0; i < 1000; i++)
        {
            Assert.That(upstream.Post(i), Is.True);
        }

        upstream.Complete();
        await block.Completion.WaitAsync(ct);

        BatchProducerStatistics s = block.GetStatistics();
        Assert.Multiple(() =>
        {
            Assert.That(sink.Items, Is.EqualTo(Enumerable.Range(0, 1000)));
            Assert.That(sink.Batches.Select(static b => b.Length), Is.All.LessThanOrEqualTo(5));
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(1000, s.Batches, 1000, 0, 0, 0)));
            Assert.That(sink.FlushCount, Is.EqualTo(1));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Fault_PropagatedFromUpstream_AbortsAndHandsBackHeldItems(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int>();
        var handBack = new HandBackRecorder();
        var block = CreateSut(sink, Options(batchSize: 100), handBack);
        var upstream = new BufferBlock<int>();
        using IDisposable link = upstream.LinkTo(block, new DataflowLinkOptions { PropagateCompletion = true });
        PostAll(block, Enumerable.Range(0, 5));

        ((IDataflowBlock)upstream).Fault(new InvalidOperationException("upstream broke"));
        BatchProducerException<int> ex = await CompletionFault(block, ct);

        Assert.Multiple(() =>
        {
            Assert.That(ex.AbandonedItems, Is.EqualTo(Enumerable.Range(0, 5)));
            Assert.That(handBack.Abandoned, Is.EqualTo(Enumerable.Range(0, 5)));
            Assert.That(ex.InnerException, Is.TypeOf<AggregateException>().Or.TypeOf<InvalidOperationException>());
            Assert.That(sink.Items, Is.Empty);
            AssertFinalInvariant(block.GetStatistics());
        });
    }
}
