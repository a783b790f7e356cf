using Confluent.Kafka;

namespace DataflowProducer.Kafka.Internal;

/// <summary>Confluent's built-in serializers by type, for the asynchronous path where the sink serializes itself.</summary>
internal static class DefaultSerializers
{
    public static ISerializer<T> For<T>(string component)
    {
        object? serializer = typeof(T) switch
        {
            var t when t == typeof(string) => Serializers.Utf8,
            var t when t == typeof(byte[]) => Serializers.ByteArray,
            var t when t == typeof(Null) => Serializers.Null,
            var t when t == typeof(int) => Serializers.Int32,
            var t when t == typeof(long) => Serializers.Int64,
            var t when t == typeof(float) => Serializers.Single,
            var t when t == typeof(double) => Serializers.Double,
            _ => null,
        };

        return serializer as ISerializer<T>
            ?? throw new ArgumentException($"There is no default {component} serializer for {typeof(T)}; set KafkaSinkOptions.{(component == "key" ? "Key" : "Value")}Serializer or Async{(component == "key" ? "Key" : "Value")}Serializer.");
    }
}
