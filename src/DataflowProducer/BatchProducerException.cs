namespace DataflowProducer;

/// <summary>The exception a <see cref="BatchProducerBlock{T}"/>'s completion ends with when not every accepted item
/// was delivered; the message gives the counts.</summary>
public class BatchProducerException : Exception
{
    /// <summary>Initializes a new instance with a message.</summary>
    /// <param name="message">The message.</param>
    public BatchProducerException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with a message and the cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public BatchProducerException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance.</summary>
    public BatchProducerException()
    {
    }

    /// <summary>Gets the statistics when the pipeline finished.</summary>
    public BatchProducerStatistics Statistics { get; init; }
}
