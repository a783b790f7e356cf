namespace DataflowProducer.Kafka.Internal;

/// <summary>Kafka's rules for topic names (those of the Java broker's <c>Topic.validate</c>): 1 to 249 characters,
/// only ASCII letters, digits, '.', '_' and '-', and neither "." nor "..".</summary>
/// <remarks>A broker refuses other names, but a client may only learn that from metadata, after waiting for it, and
/// librdkafka's mock cluster takes any name. Checking before producing fails such a record at once, alone, with a
/// message that says what is wrong with the name.</remarks>
internal static class TopicName
{
    public const int MaxLength = 249;

    /// <summary>Returns why <paramref name="topic"/> is not a legal topic name, or null when it is.</summary>
    public static string? Problem(string topic)
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
