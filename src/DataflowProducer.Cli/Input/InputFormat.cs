namespace DataflowProducer.Cli.Input;

/// <summary>How input lines are read.</summary>
internal enum InputFormat
{
    /// <summary>Each line is a record; no key.</summary>
    Lines,

    /// <summary>Each line is a JSON value (an object when a key field is given); blank lines are skipped.</summary>
    Jsonl,

    /// <summary>RFC 4180 CSV, one record per line, with a header line of field names; blank lines are skipped.</summary>
    Csv,
}
