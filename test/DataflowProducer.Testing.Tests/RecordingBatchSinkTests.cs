
namespace DataflowProducer.Testing.Tests;

public class RecordingBatchSinkTests
{
    [Test, CancelAfter(10_000)]
    public async Task AcceptAsync_Default_RecordsCopiesAndAcknowledgesAtOnce(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int>();
        int[] first = [1, 2];

        Task<BatchResult> ack1 = await sink.AcceptAsync(first, ct);
        Task<BatchResult> ack2 = await sink.AcceptAsync(new[] { 3 }, ct);
        first[0] = 99;

        Assert.Multiple(() =>
        {
            Assert.That(sink.Batches, Is.EqualTo(new[] { new[] { 1, 2 }, [3] }), "copies, in order");
            Assert.That(sink.Items, Is.EqualTo(new[] { 1, 2, 3 }));
            Assert.That(ack1.IsCompletedSuccessfully && ack2.IsCompletedSuccessfully, Is.True);
            Assert.That(ack1.Result, Is.SameAs(BatchResult.AllDelivered));
            Assert.That(sink.PendingAcknowledgements, Is.Zero);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task AcknowledgeNext_ManualAcknowledgement_CompletesOldestFirst(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int> { AcknowledgeImmediately = false };
        Task<BatchResult> ack1 = await sink.AcceptAsync(new[] { 1 }, ct);
        Task<BatchResult> ack2 = await sink.AcceptAsync(new[] { 2 }, ct);

        Assert.Multiple(() =>
        {
            Assert.That(ack1.IsCompleted || ack2.IsCompleted, Is.False);
            Assert.That(sink.PendingAcknowledgements, Is.EqualTo(2));
        });

        Assert.That(sink.AcknowledgeNext(), Is.True);
        Assert.Multiple(async () =>
        {
            Assert.That(await ack1.WaitAsync(ct), Is.SameAs(BatchResult.AllDelivered));
            Assert.That(ack2.IsCompleted, Is.False);
            Assert.That(sink.AcknowledgeAll(), Is.EqualTo(1));
            Assert.That(await ack2.WaitAsync(ct), Is.SameAs(BatchResult.AllDelivered));
            Assert.That(sink.AcknowledgeNext(), Is.False, "nothing left");
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task FailWhen_SomeItemsFail_AcknowledgementListsThemByIndex(CancellationToken ct)
    {
        var error = new InvalidOperationException("odd");
        var sink = new RecordingBatchSink<int> { FailWhen = i => i % 2 == 1 ? error : null };

        BatchResult result = await (await sink.AcceptAsync(new[] { 10, 11, 12, 13 }, ct)).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(result.Failed, Is.EqualTo(new[] { new BatchItemError(1, error), new BatchItemError(3, error) }));
            Assert.That(result.Abandoned, Is.Empty);
        });
    }

    [Test]
    public void ThrowOnAccept_Set_ThrowsAndRecordsNothing()
    {
        var error = new InvalidOperationException("broken");
        var sink = new RecordingBatchSink<int> { ThrowOnAccept = error };

        Assert.Multiple(() =>
        {
            Assert.That(() => sink.AcceptAsync(new[] { 1 }, CancellationToken.None), Throws.Exception.SameAs(error));
            Assert.That(sink.Batches, Is.Empty);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task FlushAsync_UnacknowledgedBatches_CompletesThemAsAbandoned(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int> { AcknowledgeImmediately = false };
        Task<BatchResult> ack1 = await sink.AcceptAsync(new[] { 1, 2, 3 }, ct);
        Task<BatchResult> ack2 = await sink.AcceptAsync(new[] { 4 }, ct);
        sink.AcknowledgeNext();

        await sink.FlushAsync(TimeSpan.Zero, ct).WaitAsync(ct);

        Assert.Multiple(async () =>
        {
            Assert.That(await ack1.WaitAsync(ct), Is.SameAs(BatchResult.AllDelivered));
            Assert.That((await ack2.WaitAsync(ct)).Abandoned, Is.EqualTo(new[] { 0 }));
            Assert.That(sink.PendingAcknowledgements, Is.Zero);
            Assert.That(sink.FlushCount, Is.EqualTo(1));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task FlushAsync_AbandonUnacknowledgedOnFlushFalse_LeavesThemPending(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int> { AcknowledgeImmediately = false, AbandonUnacknowledgedOnFlush = false };
        Task<BatchResult> ack = await sink.AcceptAsync(new[] { 1 }, ct);

        await sink.FlushAsync(TimeSpan.Zero, ct).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(ack.IsCompleted, Is.False);
            Assert.That(sink.PendingAcknowledgements, Is.EqualTo(1));
            Assert.That(sink.FlushCount, Is.EqualTo(1));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task WaitForBatchesAsync_CountReachedLater_CompletesThen(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int>();
        Task waiting = sink.WaitForBatchesAsync(2, ct);

        await sink.AcceptAsync(new[] { 1 }, ct);
        bool afterOne = waiting.IsCompleted;
        await sink.AcceptAsync(new[] { 2 }, ct);
        await waiting.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(afterOne, Is.False);
            Assert.That(sink.WaitForBatchesAsync(1, ct).IsCompletedSuccessfully, Is.True, "already reached");
        });
    }
}
