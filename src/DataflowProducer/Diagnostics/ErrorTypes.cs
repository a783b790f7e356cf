using System.Collections.Concurrent;

namespace DataflowProducer.Diagnostics;

/// <summary>The <c>error.type</c> of an exception when the sink gives no low-cardinality identifier of its own: the
/// exception type's full name without generic arity or arguments (<c>Confluent.Kafka.ProduceException</c>, not
/// <c>ProduceException`2</c>), so one error is one value whatever the item type.</summary>
internal static class ErrorTypes
{
    private static readonly ConcurrentDictionary<Type, string> Names = new();

    public static string Of(Exception error) => Names.GetOrAdd(error.GetType(), static type => NameOf(type));

    private static string NameOf(Type type)
    {
        Type definition = type.IsGenericType ? type.GetGenericTypeDefinition() : type;
        string name = definition.FullName ?? definition.Name;

        // Nested in a generic type, a name carries the arity of each level (Outer`1+Inner): drop every one.
        if (!name.Contains('`', StringComparison.Ordinal))
        {
            return name;
        }

        var cleaned = new System.Text.StringBuilder(name.Length);
        for (int i = 0; i < name.Length; i++)
        {
            if (name[i] == '`')
            {
                while (i + 1 < name.Length && char.IsAsciiDigit(name[i + 1]))
                {
                    i++;
                }

                continue;
            }

            cleaned.Append(name[i]);
        }

        return cleaned.ToString();
    }
}
