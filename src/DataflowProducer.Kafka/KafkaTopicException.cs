using Confluent.Kafka;

namespace DataflowProducer.Kafka;

/// <summary>Ensuring a topic failed: the broker refused a request (its error code and reason are in the message and in
/// <see cref="ErrorCode"/>), it could not be reached in time, or the topic has fewer partitions than asked.</summary>
public sealed class KafkaTopicException : Exception
{
    /// <summary>Initializes a new instance of the <see cref="KafkaTopicException"/> class.</summary>
    public KafkaTopicException()
        : this(string.Empty, "Ensuring a Kafka topic failed.", null, null)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="KafkaTopicException"/> class.</summary>
    /// <param name="message">The message.</param>
    public KafkaTopicException(string message)
        : this(string.Empty, message, null, null)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="KafkaTopicException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public KafkaTopicException(string message, Exception? innerException)
        : this(string.Empty, message, null, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="KafkaTopicException"/> class.</summary>
    /// <param name="topic">The topic.</param>
    /// <param name="message">The message: names the topic, the setting and its value, and the broker's error.</param>
    /// <param name="errorCode">The broker's (or client's) error code; null when no request failed.</param>
    /// <param name="innerException">The cause.</param>
    public KafkaTopicException(string topic, string message, ErrorCode? errorCode, Exception? innerException)
        : base(message, innerException)
    {
        Topic = topic;
        ErrorCode = errorCode;
    }

    /// <summary>Gets the topic.</summary>
    public string Topic { get; } = string.Empty;

    /// <summary>Gets the broker's (or client's, for <c>Local_*</c> codes) error code; null when the failure is a check
    /// of this library (for example fewer partitions than asked).</summary>
    public ErrorCode? ErrorCode { get; }
}
