using Confluent.Kafka;

namespace DataflowProducer.Kafka;

// The two ways the sink produces, kept apart so no path asks which producer it holds: typed messages through a producer
// with its own synchronous serializers, or bytes through a byte-array producer after the sink ran the (asynchronous)
// serializers itself.
public sealed partial class KafkaBatchSink<TKey, TValue>
{
    private abstract class ProduceMode
    {
        public abstract IClient Client { get; }

        // Hands one record to the client, to its partition when it names one; throws what the client's Produce throws.
        // serialized is the record's bytes in the serializing mode, null in the typed one.
        public abstract void Produce(string topic, KafkaRecord<TKey, TValue> record, Message<byte[]?, byte[]?>? serialized, Delivery delivery);

        public abstract int Flush(TimeSpan timeout);

        public abstract void Flush(CancellationToken cancellationToken);

        public abstract void Dispose();
    }

    private sealed class TypedMode(IProducer<TKey, TValue> producer) : ProduceMode
    {
        public override IClient Client => producer;

        public override void Produce(string topic, KafkaRecord<TKey, TValue> record, Message<byte[]?, byte[]?>? serialized, Delivery delivery)
        {
            if (record.Partition is { } partition)
            {
                producer.Produce(new TopicPartition(topic, partition), record, delivery.OnReport);
            }
            else
            {
                producer.Produce(topic, record, delivery.OnReport);
            }
        }

        public override int Flush(TimeSpan timeout) => producer.Flush(timeout);

        public override void Flush(CancellationToken cancellationToken) => producer.Flush(cancellationToken);

        public override void Dispose() => producer.Dispose();
    }

    private sealed class SerializingMode(IProducer<byte[]?, byte[]?> producer, IAsyncSerializer<TKey> keySerializer, IAsyncSerializer<TValue> valueSerializer) : ProduceMode
    {
        public IAsyncSerializer<TKey> KeySerializer => keySerializer;

        public IAsyncSerializer<TValue> ValueSerializer => valueSerializer;

        public override IClient Client => producer;

        public override void Produce(string topic, KafkaRecord<TKey, TValue> record, Message<byte[]?, byte[]?>? serialized, Delivery delivery)
        {
            if (record.Partition is { } partition)
            {
                producer.Produce(new TopicPartition(topic, partition), serialized!, delivery.OnBytesReport);
            }
            else
            {
                producer.Produce(topic, serialized!, delivery.OnBytesReport);
            }
        }

        public override int Flush(TimeSpan timeout) => producer.Flush(timeout);

        public override void Flush(CancellationToken cancellationToken) => producer.Flush(cancellationToken);

        public override void Dispose() => producer.Dispose();
    }
}
