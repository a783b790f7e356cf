using System.Text;
using Confluent.Kafka;
using NSubstitute;

namespace DataflowProducer.Kafka.Tests.TestSupport;

/// <summary>A substituted bytes producer for the sink's serializing path (asynchronous serializers): each
/// <c>Produce</c> asks <see cref="React"/> what to do (as <see cref="ProducerStub"/> does), and every message the client
/// took is recorded with its delivery handler.</summary>
internal sealed class BytesProducerStub
{
    private readonly object _lock = new();
    private readonly List<(TopicPartition TopicPartition, Message<byte[]?, byte[]?> Message, Action<DeliveryReport<byte[]?, byte[]?>> Handler)> _produced = [];
    private int _attempts;

    public BytesProducerStub()
    {
        Producer = Substitute.For<IProducer<byte[]?, byte[]?>>();
        Producer
            .When(p => p.Produce(Arg.Any<string>(), Arg.Any<Message<byte[]?, byte[]?>>(), Arg.Any<Action<DeliveryReport<byte[]?, byte[]?>>>()))
            .Do(call => OnProduce(new TopicPartition(call.ArgAt<string>(0), Partition.Any), call.ArgAt<Message<byte[]?, byte[]?>>(1), call.ArgAt<Action<DeliveryReport<byte[]?, byte[]?>>>(2)));
        Producer
            .When(p => p.Produce(Arg.Any<TopicPartition>(), Arg.Any<Message<byte[]?, byte[]?>>(), Arg.Any<Action<DeliveryReport<byte[]?, byte[]?>>>()))
            .Do(call => OnProduce(call.ArgAt<TopicPartition>(0), call.ArgAt<Message<byte[]?, byte[]?>>(1), call.ArgAt<Action<DeliveryReport<byte[]?, byte[]?>>>(2)));
    }

    public IProducer<byte[]?, byte[]?> Producer { get; }

    /// <summary>Decides each call's fate from the attempt number and the message's value (UTF-8). The default delivers
    /// every message at once.</summary>
    public Func<int, string?, Reaction> React { get; set; } = static (_, _) => Reaction.Deliver;

    /// <summary>The values (UTF-8) of the messages the client took, in order.</summary>
    public IReadOnlyList<string?> ProducedValues
    {
        get
        {
            lock (_lock)
            {
                return [.. _produced.Select(p => p.Message.Value is null ? null : Encoding.UTF8.GetString(p.Message.Value))];
            }
        }
    }

    private void OnProduce(TopicPartition topicPartition, Message<byte[]?, byte[]?> message, Action<DeliveryReport<byte[]?, byte[]?>> handler)
    {
        int number = Interlocked.Increment(ref _attempts) - 1;
        Reaction reaction = React(number, message.Value is null ? null : Encoding.UTF8.GetString(message.Value));
        if (reaction.Throw is { } exception)
        {
            throw exception;
        }

        lock (_lock)
        {
            _produced.Add((topicPartition, message, handler));
        }

        if (reaction.Report is { } code)
        {
            handler(new DeliveryReport<byte[]?, byte[]?>
            {
                TopicPartitionOffset = new TopicPartitionOffset(topicPartition, code == ErrorCode.NoError ? new Offset(0) : Offset.Unset),
                Message = message,
                Status = code == ErrorCode.NoError ? PersistenceStatus.Persisted : PersistenceStatus.NotPersisted,
                Error = reaction.Error ?? new Error(code),
            });
        }
    }
}
