using System.CommandLine;
using DataflowProducer.Cli.Output;

namespace DataflowProducer.Cli;

/// <summary>The command line: parsing, errors, and dispatch to the commands. The process's <c>Main</c> and the
/// in-process tests both come through <see cref="RunAsync"/>.</summary>
internal static class CliApplication
{
    /// <summary>Runs the tool.</summary>
    /// <param name="args">The command-line arguments.</param>
    /// <param name="console">Where it reads and writes, and its shutdown signal.</param>
    /// <returns>The exit code (see <see cref="ExitCodes"/>).</returns>
    public static async Task<int> RunAsync(string[] args, CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(console);

        // Secrets are known before parsing, so that nothing, not even an error that echoes an argument, prints one.
        using var error = new RedactingWriter(console.Error, Secrets.FindSecretValues(args));
        console = console with { Error = error };

        var root = new RootCommand("dataflow-producer: produce records to Kafka in batches, or copy a topic, with a summary you can trust.")
        {
            ProduceCommand.Create(console),
            CopyCommand.Create(console),
        };

        ParseResult parseResult = root.Parse(args);

        // The tokens include the arguments of response files (@file), which the raw arguments do not show.
        error.AddSecrets(Secrets.FindSecretValues(parseResult.Tokens.Select(token => token.Value)));
        if (parseResult.Errors.Count > 0)
        {
            foreach (System.CommandLine.Parsing.ParseError parseError in parseResult.Errors)
            {
                await error.WriteLineAsync($"error: {parseError.Message}").ConfigureAwait(false);
            }

            string command = parseResult.CommandResult.Command is RootCommand ? "produce" : parseResult.CommandResult.Command.Name;
            await error.WriteLineAsync($"Run 'dataflow-producer {command} --help' for the options and exit codes.").ConfigureAwait(false);
            return ExitCodes.BadArguments;
        }

        try
        {
            return await parseResult.InvokeAsync(new InvocationConfiguration
            {
                Output = console.Output,
                Error = error,
                EnableDefaultExceptionHandler = false,

                // Signals are the tool's own business (two stages, see ShutdownSignal), not System.CommandLine's.
                ProcessTerminationTimeout = null,
            }).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // The last resort of a command-line tool: say what went wrong, exit non-zero.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            await error.WriteLineAsync($"error: {ex.GetType().Name}: {ex.Message}").ConfigureAwait(false);
            return ExitCodes.UnexpectedError;
        }
        finally
        {
            await error.FlushAsync().ConfigureAwait(false);
            await console.Output.FlushAsync().ConfigureAwait(false);
        }
    }
}
