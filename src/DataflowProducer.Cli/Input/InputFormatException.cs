namespace DataflowProducer.Cli.Input;

/// <summary>The input cannot be read at all (as opposed to one malformed line), e.g. a CSV header without the key
/// field.</summary>
internal sealed class InputFormatException : Exception
{
    public InputFormatException(string message)
        : base(message)
    {
    }

    public InputFormatException()
    {
    }

    public InputFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
