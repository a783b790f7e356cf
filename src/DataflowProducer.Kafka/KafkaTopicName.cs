using System.Diagnostics.CodeAnalysis;

namespace DataflowProducer.Kafka;

/// <summary>Kafka's rules for topic names, those of the broker: 1 to 249 characters, only ASCII letters, digits, '.',
/// '_' and '-', and neither "." nor "..".</summary>
/// <remarks>A broker refuses other names, but a client may only learn that from metadata, after waiting for it, and
/// librdkafka's mock cluster takes any name. The sink checks every record's topic with this rule, so such a record
/// fails at once, alone, with a message that says what is wrong; a tool can check its arguments the same way before it
/// starts anything.</remarks>
public static class KafkaTopicName
{
    /// <summary>The longest legal topic name: 249 characters.</summary>
    public static int MaxLength => 249;

    /// <summary>Checks a topic name against Kafka's rules.</summary>
    /// <param name="topic">The name.</param>
    /// <param name="problem">When the name is not legal, why not (for example "it contains ' ', and only ASCII
    /// letters, digits, '.', '_' and '-' are allowed"); otherwise null.</param>
    /// <returns>True when the name is legal.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="topic"/> is null.</exception>
    public static bool IsValid(string topic, [NotNullWhen(false)] out string? problem)
    {
        ArgumentNullException.ThrowIfNull(topic);
        problem = Problem(topic);
        return problem is null;
    }

    private static string? Problem(string topic)
    {
        if (topic.Length == 0)
        {
            return "it is empty";
        }

        if (topic.Length > MaxLength)
        {
            return $"it is {topic.Length} characters long, more than {MaxLength}";
        }

        if (topic is "." or "..")
        {
            return "'.' and '..' are reserved";
        }

        foreach (char c in topic)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '_' or '-'))
            {
                return $"it contains '{c}', and only ASCII letters, digits, '.', '_' and '-' are allowed";
            }
        }

        return null;
    }
}
