namespace DataflowProducer.Cli.Input;

/// <summary>Why <see cref="InputPump"/> stopped reading.</summary>
internal enum InputEnd
{
    /// <summary>The input was read to its end.</summary>
    EndOfInput,

    /// <summary>A first signal stopped the read.</summary>
    Stopped,

    /// <summary><c>--strict</c> stopped at the first malformed line.</summary>
    StrictStop,

    /// <summary>The aborting pipeline refused a record.</summary>
    Refused,

    /// <summary>The input failed (an I/O error, a bug).</summary>
    Failed,
}
