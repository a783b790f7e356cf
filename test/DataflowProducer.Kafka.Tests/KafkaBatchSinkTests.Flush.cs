using Confluent.Kafka;
using DataflowProducer.Kafka.Tests.TestSupport;
using NSubstitute;

namespace DataflowProducer.Kafka.Tests;

public partial class KafkaBatchSinkTests
{
    [Test, CancelAfter(10_000)]
    public async Task FlushAsync_MessagesStillWithoutReport_AreAbandonedInTheirBatchResult(CancellationToken ct)
    {
        _stub.React = (n, _) => n % 2 == 0 ? Reaction.Deliver : Reaction.Hold;
        var sut = CreateSut();
        Task<BatchResult> first = await sut.AcceptAsync(Records.Create(5), ct);
        Task<BatchResult> second = await sut.AcceptAsync(Records.Create(2), ct);
        Assert.That(first.IsCompleted || second.IsCompleted, Is.False);

        await sut.FlushAsync(TimeSpan.Zero, ct).WaitAsync(ct);

        BatchResult firstResult = Completed(first);
        BatchResult secondResult = Completed(second);
        Assert.Multiple(() =>
        {
            Assert.That(firstResult.Abandoned, Is.EquivalentTo(new[] { 1, 3 }));
            Assert.That(firstResult.Failed, Is.Empty);

            // Attempts 5 and 6: the second batch's index 0 was held, index 1 delivered.
            Assert.That(secondResult.Abandoned, Is.EquivalentTo(new[] { 0 }));
        });
        _stub.Producer.Received(1).Flush(TimeSpan.Zero);

        // A report that comes after the flush gave up changes nothing (and does not throw).
        Assert.That(() => _stub.Report(1), Throws.Nothing);
        Assert.That(Completed(first).Abandoned, Has.Count.EqualTo(2));
    }

    [TestCase(0)]
    [TestCase(2_000)]
    [CancelAfter(10_000)]
    public async Task FlushAsync_ClientFlushNeverReturns_GivesUpAfterTheTimeoutPlusGraceAndAbandonsTheUnknown(int timeoutMs, CancellationToken ct)
    {
        using var gate = new ManualResetEventSlim();
        _stub.React = static (_, _) => Reaction.Hold;
        _stub.Producer.Flush(Arg.Any<TimeSpan>()).Returns(_ =>
        {
            gate.Wait();
            return 1;
        });
        var sut = CreateSut();
        Task<BatchResult> acknowledgement = await sut.AcceptAsync(Records.Create(2), ct);
        long started = _time.GetTimestamp();

        try
        {
            await AdvanceUntilCompleted(sut.FlushAsync(TimeSpan.FromMilliseconds(timeoutMs), ct), ct);
        }
        finally
        {
            gate.Set();
        }

        Assert.Multiple(() =>
        {
            Assert.That(Completed(acknowledgement).Abandoned, Is.EquivalentTo(new[] { 0, 1 }));
            Assert.That(_time.GetElapsedTime(started), Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(timeoutMs) + TimeSpan.FromSeconds(1)), "waited the timeout and the grace");
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task FlushAsync_EverythingReported_FlushesWithTheTimeoutAndAbandonsNothing(CancellationToken ct)
    {
        var sut = CreateSut();
        Task<BatchResult> acknowledgement = await sut.AcceptAsync(Records.Create(3), ct);

        await sut.FlushAsync(TimeSpan.FromSeconds(7), ct).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(Completed(acknowledgement).Abandoned, Is.Empty);
            Assert.That(Completed(acknowledgement).Failed, Is.Empty);
        });
        _stub.Producer.Received(1).Flush(TimeSpan.FromSeconds(7));
    }

    [Test, CancelAfter(10_000)]
    public async Task Dispose_SinkOverExistingProducer_NeverDisposesIt(CancellationToken ct)
    {
        var sut = CreateSut();

        sut.Dispose();
        await sut.DisposeAsync().AsTask().WaitAsync(ct);

        _stub.Producer.DidNotReceive().Dispose();
    }

    [TestCase(false)]
    [TestCase(true)]
    [CancelAfter(10_000)]
    public async Task Dispose_SinkBuiltFromConfig_DisposesItsOwnProducer(bool asynchronously, CancellationToken ct)
    {
        // No broker at this address; the producer never needs one to be built and disposed.
        var sut = new KafkaBatchSink<string, string>(new ProducerConfig { BootstrapServers = "127.0.0.1:9", LogConnectionClose = false });
        var producer = (IProducer<string, string>)sut.Client;
        Assert.That(() => producer.Flush(TimeSpan.Zero), Throws.Nothing);

        if (asynchronously)
        {
            await sut.DisposeAsync().AsTask().WaitAsync(ct);
        }
        else
        {
            sut.Dispose();
        }

        Assert.That(() => producer.Flush(TimeSpan.Zero), Throws.InstanceOf<ObjectDisposedException>());
    }
}
