namespace DataflowProducer.Cli.Input;

/// <summary>A record read from the input, or a malformed line.</summary>
/// <param name="LineNumber">The 1-based line number in the input (the sequence number for generated records).</param>
/// <param name="Key">The key's UTF-8 bytes, or null for no key.</param>
/// <param name="Value">The line's bytes exactly as read, without the line terminator.</param>
/// <param name="Error">Why the line is malformed, or null when it is a good record.</param>
internal sealed record InputRecord(long LineNumber, byte[]? Key, byte[] Value, string? Error)
{
    /// <summary>Gets a value indicating whether the line is malformed.</summary>
    public bool IsMalformed => Error is not null;
}
