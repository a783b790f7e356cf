using System.Reflection;
using DataflowProducer.Kafka;
using Microsoft.Extensions.Configuration;

namespace DataflowProducer.Hosting;

/// <summary>Configuration keys that bind to nothing. The binder skips them without a word, so a misspelt
/// <c>BoundedByte</c> would leave memory unbounded and a misspelt <c>EnsureTopics</c> would ensure nothing; each is
/// reported as one line with the validation errors instead.</summary>
internal static class UnknownSettings
{
    // Sections whose keys are checked too; the dictionaries (Producer, EnsureTopic:Configs) take any key.
    private static readonly Type[] Nested = [typeof(AdaptiveBatchingOptions), typeof(EnsureTopicOptions)];

    public static IEnumerable<string> Find(IConfiguration section, Type type, string path = "")
    {
        Dictionary<string, PropertyInfo> properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(static p => p.GetIndexParameters().Length == 0)
            .ToDictionary(static p => p.Name, StringComparer.OrdinalIgnoreCase);
        foreach (IConfigurationSection child in section.GetChildren())
        {
            string key = path + child.Key;
            if (!properties.TryGetValue(child.Key, out PropertyInfo? property))
            {
                string? near = Nearest(child.Key, properties.Keys);
                yield return $"{key} is not a setting{(near is null ? string.Empty : $" (did you mean {path}{near}?)")}; it would be ignored.";
                continue;
            }

            if (Array.IndexOf(Nested, property.PropertyType) >= 0)
            {
                foreach (string nested in Find(child, property.PropertyType, key + ":"))
                {
                    yield return nested;
                }
            }
        }
    }

    /// <summary>Whether the configuration holds a section of this name, also an empty one (<c>"Adaptive": { }</c>),
    /// which the binder skips because it has neither a value nor children.</summary>
    public static bool Names(IConfiguration section, string key) =>
        section.GetChildren().Any(child => string.Equals(child.Key, key, StringComparison.OrdinalIgnoreCase));

    // The known name within two edits, if one is.
    private static string? Nearest(string key, IEnumerable<string> names) =>
        names.Select(name => (Name: name, Distance: Distance(key.ToUpperInvariant(), name.ToUpperInvariant())))
            .Where(static c => c.Distance <= 2)
            .OrderBy(static c => c.Distance)
            .Select(static c => c.Name)
            .FirstOrDefault();

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j], current[j - 1]) + 1);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
