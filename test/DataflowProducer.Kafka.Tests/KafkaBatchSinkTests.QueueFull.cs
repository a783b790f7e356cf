using Confluent.Kafka;
using DataflowProducer.Kafka.Tests.TestSupport;

namespace DataflowProducer.Kafka.Tests;

public partial class KafkaBatchSinkTests
{
    [TestCase(0, 3)]
    [TestCase(2, 1)]
    [TestCase(4, 5)]
    [CancelAfter(10_000)]
    public async Task AcceptAsync_QueueFullThenRoomAfterRetryInterval_NothingLostOrderKeptAllDelivered(int refusedFrom, int refusals, CancellationToken ct)
    {
        _stub.React = (n, m) => n >= refusedFrom && n < refusedFrom + refusals ? Reaction.QueueFull(m) : Reaction.Deliver;
        var batch = Records.Create(6);

        Task<Task<BatchResult>> accept = CreateSut().AcceptAsync(batch, ct).AsTask();

        // Refused and not yet retried: the sink waits (on the fake clock) instead of spinning, dropping or throwing.
        Assert.Multiple(() =>
        {
            Assert.That(accept.IsCompleted, Is.False);
            Assert.That(_stub.Attempts, Has.Count.EqualTo(refusedFrom + 1));
        });

        BatchResult result = await (await AdvanceUntilCompleted(accept, ct)).WaitAsync(ct);

        var expectedAttempts = Records.Values(6).ToList();
        expectedAttempts.InsertRange(refusedFrom, Enumerable.Repeat($"v{refusedFrom}", refusals));
        Assert.Multiple(() =>
        {
            Assert.That(_stub.ProducedValues, Is.EqualTo(Records.Values(6)));
            Assert.That(_stub.Attempts.Select(a => a.Message.Value), Is.EqualTo(expectedAttempts));
            Assert.That(result.Failed, Is.Empty);
            Assert.That(result.Abandoned, Is.Empty);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task AcceptAsync_QueueFullThenDeliveryReportFreesRoom_RetriesAtOnceWithoutTheInterval(CancellationToken ct)
    {
        bool roomFreed = false;
        _stub.React = (n, m) => n < 2 ? Reaction.Hold : m.Value == "v2" && !Volatile.Read(ref roomFreed) ? Reaction.QueueFull(m) : Reaction.Deliver;
        var batch = Records.Create(4);

        Task<Task<BatchResult>> accept = CreateSut().AcceptAsync(batch, ct).AsTask();
        await _stub.WhenAttempts(3).WaitAsync(ct);
        Assert.That(accept.IsCompleted, Is.False);

        Volatile.Write(ref roomFreed, true);
        _stub.Report(0);

        // No fake time passes: only the delivery report can have woken the sink.
        Task<BatchResult> acknowledgement = await accept.WaitAsync(ct);
        _stub.Report(1);
        BatchResult result = await acknowledgement.WaitAsync(ct);
        Assert.Multiple(() =>
        {
            Assert.That(_stub.ProducedValues, Is.EqualTo(Records.Values(4)));
            Assert.That(result.Failed, Is.Empty);
            Assert.That(result.Abandoned, Is.Empty);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task AcceptAsync_DeliveryReportArrivesWhileProduceIsRefused_RetriesAtOnceWithoutTheInterval(CancellationToken ct)
    {
        // The client's poll thread can free room at any moment, also between the refusal and the sink starting to
        // wait; that report must still wake the sink (it used to be lost, leaving the sink to wait a whole interval).
        bool roomFreed = false;
        _stub.React = (n, m) => n < 2 ? Reaction.Hold
            : m.Value == "v2" && !Volatile.Read(ref roomFreed) ? Reaction.QueueFull(m) with { BeforeOutcome = stub => { Volatile.Write(ref roomFreed, true); stub.Report(0); } }
            : Reaction.Deliver;
        var batch = Records.Create(4);

        Task<BatchResult> acknowledgement = await CreateSut().AcceptAsync(batch, ct).AsTask().WaitAsync(ct);
        _stub.Report(1);
        BatchResult result = await acknowledgement.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(_stub.ProducedValues, Is.EqualTo(Records.Values(4)));
            Assert.That(result.Failed, Is.Empty);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task AcceptAsync_CanceledWhileWaitingOnQueueFull_RestNotSentProducedPartKeepsItsOutcome(CancellationToken ct)
    {
        _stub.React = (n, m) => n < 2 ? Reaction.Hold : Reaction.QueueFull(m);
        var batch = Records.Create(5);
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(ct);

        Task<Task<BatchResult>> accept = CreateSut().AcceptAsync(batch, abort.Token).AsTask();
        Assert.That(accept.IsCompleted, Is.False);
        await abort.CancelAsync();
        Task<BatchResult> acknowledgement = await accept.WaitAsync(ct);

        // The two messages the client took are still in flight: their reports decide their outcome.
        Assert.That(acknowledgement.IsCompleted, Is.False);
        _stub.Report(0);
        _stub.Report(1, ErrorCode.Local_MsgTimedOut);
        BatchResult result = await acknowledgement.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(_stub.ProducedValues, Is.EqualTo(new[] { "v0", "v1" }));
            Assert.That(result.Failed.Select(f => f.Index), Is.EqualTo(new[] { 1 }));
            Assert.That(result.NotSent, Is.EquivalentTo(new[] { 2, 3, 4 }), "never handed to the client: safe to send again");
            Assert.That(result.Abandoned, Is.Empty);
        });
    }
}
