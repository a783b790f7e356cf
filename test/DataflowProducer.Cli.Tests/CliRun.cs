using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace DataflowProducer.Cli.Tests;

/// <summary>Runs the tool in-process with captured standard streams.</summary>
internal sealed partial record CliRun(int ExitCode, string Output, string Error)
{
    public static async Task<CliRun> RunAsync(string[] args, byte[]? standardInput = null, ShutdownSignal? shutdown = null) =>
        await RunAsync(args, () => new MemoryStream(standardInput ?? []), shutdown);

    public static async Task<CliRun> RunAsync(string[] args, Func<Stream> standardInput, ShutdownSignal? shutdown = null)
    {
        using var output = new StringWriter(CultureInfo.InvariantCulture);
        using var error = new StringWriter(CultureInfo.InvariantCulture);
        using var ownSignal = new ShutdownSignal();
        var console = new CliConsole(standardInput, output, error, IsErrorTerminal: false, shutdown ?? ownSignal);
        int exitCode = await CliApplication.RunAsync(args, console);
        return new CliRun(exitCode, output.ToString(), error.ToString());
    }

    /// <summary>The fields of the SUMMARY line; fails the test when there is not exactly one.</summary>
    public Dictionary<string, string> Summary => ParseSummary(Output);

    public static Dictionary<string, string> ParseSummary(string output)
    {
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.That(lines, Has.Exactly(1).Matches<string>(l => l.StartsWith("SUMMARY ", StringComparison.Ordinal)), output);
        Match match = SummaryLine().Match(lines.Single(l => l.StartsWith("SUMMARY ", StringComparison.Ordinal)));
        Assert.That(match.Success, Is.True, "SUMMARY line format: " + output);
        return match.Groups["name"].Captures.Select((c, i) => (c.Value, match.Groups["value"].Captures[i].Value)).ToDictionary(p => p.Item1, p => p.Item2);
    }

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    [GeneratedRegex(@"^SUMMARY(?: (?<name>accepted|delivered|failed|abandoned|batches)=(?<value>\d+))+ seconds=\d+\.\d\d$")]
    private static partial Regex SummaryLine();
}
