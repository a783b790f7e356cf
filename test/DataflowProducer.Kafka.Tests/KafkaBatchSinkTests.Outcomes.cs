using Confluent.Kafka;
using DataflowProducer.Kafka.Tests.TestSupport;

namespace DataflowProducer.Kafka.Tests;

/// <summary>Receipts for delivered messages, and not sent versus unknown when the sink gives messages up.</summary>
public partial class KafkaBatchSinkTests
{
    [Test, CancelAfter(10_000)]
    public async Task AcceptAsync_ReceiptsOff_AllDeliveredResultWithoutReceipts(CancellationToken ct)
    {
        BatchResult result = await (await CreateSut().AcceptAsync(Records.Create(3), ct)).WaitAsync(ct);

        // The shared instance: nothing was allocated for the batch's result.
        Assert.That(result, Is.SameAs(BatchResult.AllDelivered));
    }

    [Test, CancelAfter(10_000)]
    public async Task AcceptAsync_ReceiptsOn_EachDeliveredMessageHasItsTopicPartitionOffsetAndTimestamp(CancellationToken ct)
    {
        var timestamp = new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);
        var records = Records.Create(3);
        records[2].Timestamp = new Timestamp(timestamp);
        _stub.React = (n, _) => n == 1 ? Reaction.Fail(ErrorCode.Local_MsgTimedOut) : Reaction.Deliver;
        var sut = new KafkaBatchSink<string, string>(_stub.Producer, new KafkaSinkOptions<string, string> { DeliveryReceipts = true }, logger: null, _time);

        BatchResult result = await (await sut.AcceptAsync(records, ct)).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(result.Receipts, Has.Count.EqualTo(3));
            Assert.That(result.Receipts![0], Is.EqualTo(new DeliveryReceipt("t", null, 0, null)), "the stub reports Partition.Any and offset 0, no timestamp");
            Assert.That(result.Receipts[2], Is.EqualTo(new DeliveryReceipt("t", null, 0, timestamp)));
            Assert.That(result.Failed.Select(f => f.Index), Is.EqualTo(new[] { 1 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task FlushAsync_AfterAbortWhileWaitingOnQueueFull_HandedOverUnknownNeverHandedNotSent(CancellationToken ct)
    {
        _stub.React = (n, m) => n < 2 ? Reaction.Hold : Reaction.QueueFull(m);
        var sut = CreateSut();
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Task<Task<BatchResult>> accept = sut.AcceptAsync(Records.Create(5), abort.Token).AsTask();
        await abort.CancelAsync();
        Task<BatchResult> acknowledgement = await accept.WaitAsync(ct);

        await sut.FlushAsync(TimeSpan.Zero, ct).WaitAsync(ct);

        BatchResult result = Completed(acknowledgement);
        Assert.Multiple(() =>
        {
            Assert.That(result.Abandoned, Is.EquivalentTo(new[] { 0, 1 }), "handed to the client, no report: unknown");
            Assert.That(result.NotSent, Is.EquivalentTo(new[] { 2, 3, 4 }), "never handed to the client");
            Assert.That(result.Failed, Is.Empty);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task FlushAsync_GivesUpWhileAcceptStillWaitsForRoom_NotSentMessagesAreNeverProducedAfterwards(CancellationToken ct)
    {
        // The flush of an abort can give up before the accepting loop has seen the cancellation: what it settles as
        // not sent must then never reach the client, or a resend would duplicate it.
        bool full = true;
        _stub.React = (n, m) => n < 2 ? Reaction.Hold : Volatile.Read(ref full) ? Reaction.QueueFull(m) : Reaction.Deliver;
        var sut = CreateSut();
        Task<Task<BatchResult>> accept = sut.AcceptAsync(Records.Create(5), ct).AsTask();
        await _stub.WhenAttempts(3).WaitAsync(ct);

        await sut.FlushAsync(TimeSpan.Zero, ct).WaitAsync(ct);
        Volatile.Write(ref full, false);
        BatchResult result = await (await AdvanceUntilCompleted(accept, ct)).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(_stub.ProducedValues, Is.EqualTo(new[] { "v0", "v1" }), "nothing produced after the flush gave the rest up");
            Assert.That(result.Abandoned, Is.EquivalentTo(new[] { 0, 1 }));
            Assert.That(result.NotSent, Is.EquivalentTo(new[] { 2, 3, 4 }));
        });
    }
}
