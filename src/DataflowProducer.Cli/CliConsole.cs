namespace DataflowProducer.Cli;

/// <summary>Where the tool reads and writes: the real console in the process, captured writers in tests.</summary>
/// <param name="OpenStandardInput">Opens standard input, for <c>--input -</c>.</param>
/// <param name="Output">Standard output: the SUMMARY line (or JSON) and <c>--help</c>.</param>
/// <param name="Error">Standard error: messages, progress, and the summary table.</param>
/// <param name="IsErrorTerminal">True when standard error is a terminal: progress is a live line rewritten with \r.</param>
/// <param name="Shutdown">The Ctrl+C / SIGTERM requests.</param>
internal sealed record CliConsole(Func<Stream> OpenStandardInput, TextWriter Output, TextWriter Error, bool IsErrorTerminal, ShutdownSignal Shutdown);
