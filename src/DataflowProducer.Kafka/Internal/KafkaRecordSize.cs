using System.Runtime.CompilerServices;
using Confluent.Kafka;

namespace DataflowProducer.Kafka.Internal;

/// <summary>The default size of a record for the bytes bound: key + value + headers, as they sit in memory before
/// serialization, measured in constant time. A <c>byte[]</c> is its length; a <c>string</c> two bytes a character
/// (UTF-16, what it holds in memory, not its UTF-8 length on the wire); a value type without references its size;
/// null (and <see cref="Null"/>) nothing; a header its key's characters (two bytes each) and its value's length.
/// Other key or value types cannot be measured without serializing: <see cref="For"/> is then null and the pipeline
/// asks for <c>BatchProducerOptions.ItemSize</c>.</summary>
internal static class KafkaRecordSize<TKey, TValue>
{
    private static readonly Func<TKey, long>? KeySize = SizeOf<TKey>();
    private static readonly Func<TValue, long>? ValueSize = SizeOf<TValue>();

    public static Func<KafkaRecord<TKey, TValue>, long>? For { get; } = KeySize is null || ValueSize is null ? null : Measure;

    private static long Measure(KafkaRecord<TKey, TValue> record)
    {
        if (record is null)
        {
            return 0;
        }

        long size = KeySize!(record.Key) + ValueSize!(record.Value);
        if (record.Headers is { } headers)
        {
            foreach (IHeader header in headers)
            {
                size += (2L * (header.Key?.Length ?? 0)) + (header.GetValueBytes()?.Length ?? 0);
            }
        }

        return size;
    }

    private static Func<T, long>? SizeOf<T>()
    {
        if (typeof(T) == typeof(byte[]))
        {
            return static v => (v as byte[])?.Length ?? 0;
        }

        if (typeof(T) == typeof(string))
        {
            return static v => 2L * ((v as string)?.Length ?? 0);
        }

        if (typeof(T) == typeof(Null) || typeof(T) == typeof(Ignore))
        {
            return static _ => 0;
        }

        if (!RuntimeHelpers.IsReferenceOrContainsReferences<T>())
        {
            long size = Unsafe.SizeOf<T>();
            return _ => size;
        }

        return null;
    }
}
