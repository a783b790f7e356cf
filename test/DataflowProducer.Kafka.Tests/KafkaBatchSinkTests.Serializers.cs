using System.Text;
using Confluent.Kafka;
using DataflowProducer.Kafka.Tests.TestSupport;

namespace DataflowProducer.Kafka.Tests;

/// <summary>The serializing path (asynchronous serializers over a bytes producer): each serializer failure, whatever
/// its form, is that record's failure with the component's error code.</summary>
public partial class KafkaBatchSinkTests
{
    private KafkaBatchSink<string, string> CreateSerializingSut(IAsyncSerializer<string>? key = null, IAsyncSerializer<string>? value = null) =>
        new(_bytes.Producer, key ?? new Utf8Async(), value ?? new Utf8Async(), new KafkaSinkOptions<string, string> { DefaultTopic = "t", QueueFullRetryInterval = RetryInterval }, logger: null, _time);

    [TestCase(MessageComponentType.Key, ErrorCode.Local_KeySerialization)]
    [TestCase(MessageComponentType.Value, ErrorCode.Local_ValueSerialization)]
    [CancelAfter(10_000)]
    public async Task AcceptAsync_AsyncSerializerThrows_ThatRecordFailsWithTheComponentsCode(MessageComponentType component, ErrorCode code, CancellationToken ct)
    {
        var hostile = new Utf8Async { Poison = "2", Failure = static _ => throw new FormatException("cannot serialize 2") };
        var sut = component == MessageComponentType.Key ? CreateSerializingSut(key: hostile) : CreateSerializingSut(value: hostile);
        var batch = Enumerable.Range(0, 4).Select(i => new KafkaRecord<string, string>($"{i}", $"{i}")).ToArray();

        BatchResult result = await (await sut.AcceptAsync(batch, ct)).WaitAsync(ct);

        Assert.That(result.Failed, Has.Count.EqualTo(1));
        var error = result.Failed[0].Error as ProduceException<string, string>;
        Assert.Multiple(() =>
        {
            Assert.That(result.Failed[0].Index, Is.EqualTo(2));
            Assert.That(error, Is.Not.Null, $"{result.Failed[0].Error.GetType()}");
            Assert.That(error!.Error.Code, Is.EqualTo(code));
            Assert.That(error.DeliveryResult.Message, Is.SameAs(batch[2]));
            Assert.That(error.InnerException, Is.TypeOf<FormatException>());
            Assert.That(_bytes.ProducedValues, Is.EqualTo(new[] { "0", "1", "3" }));
        });
    }

    [TestCase(MessageComponentType.Key)]
    [TestCase(MessageComponentType.Value)]
    [CancelAfter(10_000)]
    public async Task AcceptAsync_AsyncSerializerReturnsCanceledTask_ThatRecordFailsOthersProduced(MessageComponentType component, CancellationToken ct)
    {
        // An HTTP call that times out inside a serializer (a schema registry lookup) ends as a TaskCanceledException.
        var hostile = new Utf8Async { Poison = "1", Failure = static _ => Task.FromCanceled<byte[]>(new CancellationToken(canceled: true)) };
        var sut = component == MessageComponentType.Key ? CreateSerializingSut(key: hostile) : CreateSerializingSut(value: hostile);
        var batch = Enumerable.Range(0, 3).Select(i => new KafkaRecord<string, string>($"{i}", $"{i}")).ToArray();

        BatchResult result = await (await sut.AcceptAsync(batch, ct)).WaitAsync(ct);

        Assert.That(result.Failed, Has.Count.EqualTo(1));
        var error = result.Failed[0].Error as ProduceException<string, string>;
        Assert.Multiple(() =>
        {
            Assert.That(result.Failed[0].Index, Is.EqualTo(1));
            Assert.That(error?.Error.Code, Is.EqualTo(component == MessageComponentType.Key ? ErrorCode.Local_KeySerialization : ErrorCode.Local_ValueSerialization));
            Assert.That(error?.InnerException, Is.InstanceOf<OperationCanceledException>());
            Assert.That(result.Abandoned, Is.Empty);
            Assert.That(_bytes.ProducedValues, Is.EqualTo(new[] { "0", "2" }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task AcceptAsync_AsyncSerializerNeverCompletesThenAborted_ReturnsWithTheRecordsNotSent(CancellationToken ct)
    {
        var hostile = new Utf8Async { Poison = "1", Failure = static _ => new TaskCompletionSource<byte[]>().Task };
        var sut = CreateSerializingSut(value: hostile);
        var batch = Enumerable.Range(0, 3).Select(i => new KafkaRecord<string, string>($"{i}", $"{i}")).ToArray();
        using var abort = new CancellationTokenSource();

        ValueTask<Task<BatchResult>> accepting = sut.AcceptAsync(batch, abort.Token);
        Assert.That(accepting.IsCompleted, Is.False, "the serializer should still be running");
        await abort.CancelAsync();
        BatchResult result = await (await accepting.AsTask().WaitAsync(ct)).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(result.NotSent, Is.EqualTo(new[] { 0, 1, 2 }), "nothing was handed to the client");
            Assert.That(result.Abandoned, Is.Empty);
            Assert.That(result.Failed, Is.Empty);
            Assert.That(_bytes.ProducedValues, Is.Empty);
        });
    }

    [TestCase(false)]
    [TestCase(true)]
    [CancelAfter(10_000)]
    public async Task AcceptAsync_DeliveryErrorInEitherProduceMode_SameErrorTypeCarryingTheRecord(bool serializing, CancellationToken ct)
    {
        _stub.React = (_, m) => m.Value == "v1" ? Reaction.Fail(ErrorCode.Local_MsgTimedOut) : Reaction.Deliver;
        _bytes.React = (_, v) => v == "v1" ? Reaction.Fail(ErrorCode.Local_MsgTimedOut) : Reaction.Deliver;
        var batch = Records.Create(3);
        var sut = serializing ? CreateSerializingSut() : CreateSut();

        BatchResult result = await (await sut.AcceptAsync(batch, ct)).WaitAsync(ct);

        Assert.That(result.Failed, Has.Count.EqualTo(1));
        Assert.Multiple(() =>
        {
            Assert.That(result.Failed[0].Error, Is.TypeOf<ProduceException<string, string>>());
            Assert.That(((ProduceException<string, string>)result.Failed[0].Error).Error.Code, Is.EqualTo(ErrorCode.Local_MsgTimedOut));
            Assert.That(((ProduceException<string, string>)result.Failed[0].Error).DeliveryResult.Message, Is.SameAs(batch[1]));
        });
    }

    [TestCase(false)]
    [TestCase(true)]
    [CancelAfter(10_000)]
    public async Task AcceptAsync_NullRecordInEitherProduceMode_ThatRecordFailsNamingItOthersDelivered(bool serializing, CancellationToken ct)
    {
        var batch = new KafkaRecord<string, string>?[] { new("k0", "v0", "t"), null, new("k2", "v2", "t") };
        var sut = serializing ? CreateSerializingSut() : CreateSut();

        BatchResult result = await (await sut.AcceptAsync(batch!, ct)).WaitAsync(ct);

        Assert.That(result.Failed, Has.Count.EqualTo(1));
        Assert.Multiple(() =>
        {
            Assert.That(result.Failed[0].Index, Is.EqualTo(1));
            Assert.That(result.Failed[0].Error, Is.TypeOf<ArgumentNullException>().With.Message.Contains("record"));
            Assert.That(result.Abandoned, Is.Empty);
            Assert.That(serializing ? _bytes.ProducedValues : _stub.ProducedValues.ToList<string?>(), Is.EqualTo(new[] { "v0", "v2" }));
        });
    }

    /// <summary>UTF-8, asynchronous; <see cref="Failure"/> replaces the result for the <see cref="Poison"/> input.</summary>
    private sealed class Utf8Async : IAsyncSerializer<string>
    {
        public string? Poison { get; init; }

        public Func<string, Task<byte[]>>? Failure { get; init; }

        public Task<byte[]> SerializeAsync(string data, SerializationContext context) =>
            data == Poison && Failure is { } failure ? failure(data) : Task.FromResult(Encoding.UTF8.GetBytes(data ?? string.Empty));
    }
}
