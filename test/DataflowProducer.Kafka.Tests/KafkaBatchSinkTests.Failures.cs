using Confluent.Kafka;
using DataflowProducer.Kafka.Tests.TestSupport;
using NSubstitute;

namespace DataflowProducer.Kafka.Tests;

public partial class KafkaBatchSinkTests
{
    [TestCase(ErrorCode.Local_ValueSerialization)]
    [TestCase(ErrorCode.Local_KeySerialization)]
    [TestCase(ErrorCode.MsgSizeTooLarge)]
    [CancelAfter(10_000)]
    public async Task AcceptAsync_ProduceThrowsForOneMessage_OnlyThatMessageFailsWithItsRecord(ErrorCode code, CancellationToken ct)
    {
        var serializerError = new FormatException("cannot serialize v2");
        _stub.React = (_, m) => m.Value == "v2" ? Reaction.Refuse(ProducerStub.ProduceError(code, m, serializerError)) : Reaction.Deliver;
        var batch = Records.Create(5);

        BatchResult result = await (await CreateSut().AcceptAsync(batch, ct)).WaitAsync(ct);

        Assert.That(result.Failed, Has.Count.EqualTo(1));
        var error = result.Failed[0].Error as ProduceException<string, string>;
        Assert.Multiple(() =>
        {
            Assert.That(result.Failed[0].Index, Is.EqualTo(2));
            Assert.That(error, Is.Not.Null);
            Assert.That(error!.Error.Code, Is.EqualTo(code));
            Assert.That(error.DeliveryResult.Message, Is.SameAs(batch[2]));
            Assert.That(result.Abandoned, Is.Empty);
            Assert.That(_stub.ProducedValues, Is.EqualTo(new[] { "v0", "v1", "v3", "v4" }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task AcceptAsync_DeliveryErrorsForSome_EachReportedOnceWithItsRecord(CancellationToken ct)
    {
        _stub.React = (_, m) => m.Value is "v1" or "v4" ? Reaction.Fail(ErrorCode.Local_MsgTimedOut) : Reaction.Deliver;
        var batch = Records.Create(6);

        BatchResult result = await (await CreateSut().AcceptAsync(batch, ct)).WaitAsync(ct);

        Assert.That(result.Failed.Select(f => f.Index), Is.EqualTo(new[] { 1, 4 }));
        Assert.Multiple(() =>
        {
            foreach (BatchItemError failure in result.Failed)
            {
                var error = failure.Error as ProduceException<string, string>;
                Assert.That(error?.Error.Code, Is.EqualTo(ErrorCode.Local_MsgTimedOut), $"index {failure.Index}");
                Assert.That(error?.DeliveryResult.Message, Is.SameAs(batch[failure.Index]), $"index {failure.Index}");
            }

            Assert.That(result.Abandoned, Is.Empty);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task AcceptAsync_ReportsArriveLaterAndOneTwice_AcknowledgesOnLastReportCountingEachOnce(CancellationToken ct)
    {
        _stub.React = (_, _) => Reaction.Hold;
        var batch = Records.Create(3);

        Task<BatchResult> acknowledgement = await CreateSut().AcceptAsync(batch, ct);
        _stub.Report(1, ErrorCode.Local_MsgTimedOut);
        _stub.Report(1);
        _stub.Report(0);
        Assert.That(acknowledgement.IsCompleted, Is.False, "one message has no outcome yet");

        _stub.Report(2, ErrorCode.TopicAuthorizationFailed);
        BatchResult result = await acknowledgement.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(result.Failed.Select(f => (f.Index, ((KafkaException)f.Error).Error.Code)), Is.EqualTo(new[]
            {
                (1, ErrorCode.Local_MsgTimedOut),
                (2, ErrorCode.TopicAuthorizationFailed),
            }));
            Assert.That(result.Abandoned, Is.Empty);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task AcceptAsync_RecordTopicAndDefaultTopic_RecordTopicWinsDefaultFillsIn(CancellationToken ct)
    {
        KafkaRecord<string, string>[] batch = [new("k0", "v0", "own"), new("k1", "v1")];

        BatchResult result = await (await CreateSut(defaultTopic: "fallback").AcceptAsync(batch, ct)).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(_stub.Attempts.Select(a => a.TopicPartition.Topic), Is.EqualTo(new[] { "own", "fallback" }));
            Assert.That(result.Failed, Is.Empty);
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task AcceptAsync_NoRecordTopicAndNoDefaultTopic_FailsThatRecordWithClearError(CancellationToken ct)
    {
        KafkaRecord<string, string>[] batch = [new("k0", "v0", "t"), new("k1", "v1"), new("k2", "v2", "t")];

        BatchResult result = await (await CreateSut(defaultTopic: null).AcceptAsync(batch, ct)).WaitAsync(ct);

        Assert.That(result.Failed, Has.Count.EqualTo(1));
        Assert.Multiple(() =>
        {
            Assert.That(result.Failed[0].Index, Is.EqualTo(1));
            Assert.That(result.Failed[0].Error, Is.InstanceOf<ArgumentException>().With.Message.Contains("DefaultTopic"));
            Assert.That(_stub.ProducedValues, Is.EqualTo(new[] { "v0", "v2" }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task AcceptAsync_ExplicitPartition_UsesTopicPartitionOverload(CancellationToken ct)
    {
        KafkaRecord<string, string>[] batch = [new("k0", "v0", "t") { Partition = new Partition(2) }, new("k1", "v1", "t")];

        BatchResult result = await (await CreateSut().AcceptAsync(batch, ct)).WaitAsync(ct);

        Assert.That(result.Failed, Is.Empty);
        _stub.Producer.Received(1).Produce(
            Arg.Is<TopicPartition>(tp => tp.Topic == "t" && tp.Partition == new Partition(2)),
            Arg.Is<Message<string, string>>(m => m.Value == "v0"),
            Arg.Any<Action<DeliveryReport<string, string>>>());
        _stub.Producer.DidNotReceive().Produce(
            Arg.Any<string>(),
            Arg.Is<Message<string, string>>(m => m.Value == "v0"),
            Arg.Any<Action<DeliveryReport<string, string>>>());
        _stub.Producer.Received(1).Produce(
            "t",
            Arg.Is<Message<string, string>>(m => m.Value == "v1"),
            Arg.Any<Action<DeliveryReport<string, string>>>());
    }
}
