using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Tests.TestSupport;

namespace DataflowProducer.Kafka.Tests;

/// <summary>Fatal client errors fail fast; a null or otherwise broken record fails alone.</summary>
public partial class KafkaBatchSinkTests
{
    private static readonly Error Fatal = new(ErrorCode.OutOfOrderSequenceNumber, "stub: fatal idempotent producer error", isFatal: true);

    [Test, CancelAfter(10_000)]
    public async Task Create_FatalErrorInADeliveryReport_ThatRecordFailsWithItAndEverythingNotHandedOverIsAbandoned(CancellationToken ct)
    {
        _stub.React = (_, m) => m.Value == "v3" ? Reaction.Fail(Fatal) : Reaction.Deliver;
        var records = Records.Create(15, topic: null);
        var block = CreateBlock(batchSize: 5, TimeSpan.FromSeconds(30));

        // The abort may close the block while the last records are posted: those are declined, not lost.
        int accepted = records.TakeWhile(block.Post).Count();
        Assert.That(accepted, Is.GreaterThanOrEqualTo(5), "the first batch is accepted before anything can fail");
        block.Complete();
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));

        BatchProducerStatistics s = block.GetStatistics();
        Assert.Multiple(() =>
        {
            Assert.That(completion, Is.TypeOf<BatchProducerException<KafkaRecord<string, string>>>());
            Assert.That(completion?.InnerException, Is.TypeOf<KafkaException>(), "the CLI relies on the fatal KafkaException being the inner exception");
            Assert.That((completion?.InnerException as KafkaException)?.Error.IsFatal, Is.True);
            Assert.That(_failed.Select(f => f.Record), Is.EqualTo(new[] { records[3] }));
            Assert.That(((KafkaException)_failed[0].Error).Error.IsFatal, Is.True);
            Assert.That(_abandoned, Is.EquivalentTo(records.Skip(4).Take(accepted - 4)));
            Assert.That(_stub.ProducedValues, Is.EqualTo(new[] { "v0", "v1", "v2", "v3" }), "nothing is produced after the fatal error");
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(accepted, s.Batches, 3, 1, accepted - 4, 0) { NotSent = s.NotSent, Unknown = s.Unknown }));

            // v4 never reached the client: not sent. Later batches are refused by a throwing AcceptAsync, which the
            // pipeline counts as unknown (it cannot tell what a sink that threw did), or never reached the sink.
            Assert.That(s.NotSent, Is.GreaterThanOrEqualTo(1), "v4, never handed to the client after the fatal error");
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Create_FatalErrorInTheLastBatch_CompletionCarriesTheFatalKafkaException(CancellationToken ct)
    {
        _stub.React = (_, m) => m.Value switch
        {
            "v0" => Reaction.Fail(ErrorCode.Local_MsgTimedOut),
            "v3" => Reaction.Fail(Fatal),
            _ => Reaction.Deliver,
        };
        var records = Records.Create(5, topic: null);
        var block = CreateBlock(batchSize: 5, TimeSpan.FromSeconds(30));

        foreach (var record in records)
        {
            Assert.That(block.Post(record), Is.True);
        }

        block.Complete();
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));

        BatchProducerStatistics s = block.GetStatistics();
        Assert.Multiple(() =>
        {
            Assert.That(completion?.InnerException, Is.TypeOf<KafkaException>());
            Assert.That((completion?.InnerException as KafkaException)?.Error.IsFatal, Is.True);
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(5, s.Batches, 2, 2, 1, 0) { NotSent = 1 }), "v4 was never handed to the client");
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task AcceptAsync_AfterTheClientReportedAFatalError_ThrowsKafkaExceptionWithThatError(CancellationToken ct)
    {
        var sut = CreateSut(defaultTopic: "t");

        sut.OnClientError(new Error(ErrorCode.Local_MsgTimedOut, "not fatal"));
        BatchResult ok = await (await sut.AcceptAsync(Records.Create(1), ct)).WaitAsync(ct);
        sut.OnClientError(Fatal);
        Exception? refused = await Records.ExceptionOf(sut.AcceptAsync(Records.Create(1), ct).AsTask());

        Assert.Multiple(() =>
        {
            Assert.That(ok.Failed, Is.Empty);
            Assert.That(refused, Is.TypeOf<KafkaException>());
            Assert.That((refused as KafkaException)?.Error, Is.SameAs(Fatal));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task AcceptAsync_ProduceRefusedWithLocalFatal_RestNotSentAndNextAcceptThrowsFatalKafkaException(CancellationToken ct)
    {
        // Once failed fatally, the client refuses messages with Local_Fatal, an error without the fatal flag.
        _stub.React = (_, m) => m.Value == "v1" ? Reaction.Refuse(ProducerStub.ProduceError(ErrorCode.Local_Fatal, m)) : Reaction.Deliver;
        var sut = CreateSut();

        BatchResult result = await (await sut.AcceptAsync(Records.Create(4), ct)).WaitAsync(ct);
        Exception? refused = await Records.ExceptionOf(sut.AcceptAsync(Records.Create(1), ct).AsTask());

        Assert.Multiple(() =>
        {
            Assert.That(result.Failed.Select(f => f.Index), Is.EqualTo(new[] { 1 }));
            Assert.That(result.NotSent, Is.EqualTo(new[] { 2, 3 }), "not handed over after the fatal error");
            Assert.That(result.Abandoned, Is.Empty);
            Assert.That(_stub.ProducedValues, Is.EqualTo(new[] { "v0" }));
            Assert.That(refused, Is.TypeOf<KafkaException>());
            Assert.That((refused as KafkaException)?.Error.IsFatal, Is.True, "the CLI tells a fatal error by Error.IsFatal");
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Create_PostNull_TheNullFailsAloneAndEveryOtherRecordIsDelivered(CancellationToken ct)
    {
        var records = Records.Create(9, topic: null);
        var block = CreateBlock(batchSize: 4, TimeSpan.FromSeconds(30));

        for (int i = 0; i < records.Length; i++)
        {
            Assert.That(block.Post(i == 5 ? null! : records[i]), Is.True);
        }

        block.Complete();
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));

        BatchProducerStatistics s = block.GetStatistics();
        Assert.Multiple(() =>
        {
            Assert.That(_failed.Select(f => f.Record), Is.EqualTo(new KafkaRecord<string, string>?[] { null }));
            Assert.That(_failed.Select(f => f.Error), Has.All.TypeOf<ArgumentNullException>());
            Assert.That(_abandoned, Is.Empty);
            Assert.That(_stub.ProducedValues, Is.EqualTo(records.Where((_, i) => i != 5).Select(r => r.Value)));
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(9, s.Batches, 8, 1, 0, 0)));
            Assert.That(completion, Is.TypeOf<BatchProducerException<KafkaRecord<string, string>>>().With.Message.Contains("9 accepted, 8 delivered, 1 failed, 0 abandoned"));
        });
    }
}
