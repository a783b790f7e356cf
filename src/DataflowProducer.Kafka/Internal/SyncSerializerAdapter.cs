using Confluent.Kafka;

namespace DataflowProducer.Kafka.Internal;

/// <summary>Lets a synchronous serializer stand beside an asynchronous one on the sink's serializing path.</summary>
internal sealed class SyncSerializerAdapter<T>(ISerializer<T> inner) : IAsyncSerializer<T>
{
    public Task<byte[]> SerializeAsync(T data, SerializationContext context) => Task.FromResult(inner.Serialize(data, context));
}
