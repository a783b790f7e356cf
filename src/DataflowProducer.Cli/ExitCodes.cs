namespace DataflowProducer.Cli;

/// <summary>The process exit codes. When several apply, the one listed later here wins (verification beats
/// abandoned beats failed beats interrupted).</summary>
internal static class ExitCodes
{
    /// <summary>Every record read was delivered (and verified, with <c>--verify</c>).</summary>
    public const int Success = 0;

    /// <summary>An unexpected error stopped the tool.</summary>
    public const int UnexpectedError = 1;

    /// <summary>Bad arguments: an unknown or invalid option, an input file that cannot be opened, a CSV header
    /// without the key field, or a Kafka setting the client rejects. Nothing was produced.</summary>
    public const int BadArguments = 2;

    /// <summary>Some records failed: malformed input lines, or records Kafka refused.</summary>
    public const int RecordsFailed = 3;

    /// <summary>Aborted: records were abandoned (second Ctrl+C/SIGTERM, drain timeout, or a broken producer).</summary>
    public const int Abandoned = 4;

    /// <summary><c>--verify</c> found the topic's content different from what was delivered, or could not read it.</summary>
    public const int VerificationFailed = 5;

    /// <summary>Stopped by a first Ctrl+C (SIGINT) before the end of the input; everything read was delivered.</summary>
    public const int InterruptedBySigint = 130;

    /// <summary>Stopped by a first SIGTERM before the end of the input; everything read was delivered.</summary>
    public const int InterruptedBySigterm = 143;

    /// <summary>The text of <c>--help</c> that documents these codes.</summary>
    public const string HelpText =
        """
        Exit codes:
          0    every record read was delivered (and verified, with --verify)
          1    unexpected error
          2    bad arguments (unknown/invalid option, unreadable input, CSV header without the key field,
               a -X setting the Kafka client rejects); nothing was produced
          3    some records failed (malformed input lines, or records Kafka refused)
          4    aborted: records were abandoned (second Ctrl+C/SIGTERM, drain timeout, broken producer)
          5    --verify: the topic does not hold exactly what was delivered, or could not be read
          130  stopped by a first Ctrl+C before the end of the input, everything read delivered (143: SIGTERM)
        When several apply, the highest of 5, 4, 3 wins over 130/143.
        """;
}
