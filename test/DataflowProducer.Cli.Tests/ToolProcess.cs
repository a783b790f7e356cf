using System.Diagnostics;

namespace DataflowProducer.Cli.Tests;

/// <summary>Starts the built tool as a child process (<c>dotnet dataflow-producer.dll …</c>), its standard streams
/// redirected.</summary>
internal static class ToolProcess
{
    public static Process Start(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(ToolPath());
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        return Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start.");
    }

    // The tool as built next to this test assembly's configuration: src/DataflowProducer.Cli/bin/<Configuration>/<tfm>/.
    private static string ToolPath()
    {
        var testOutput = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string framework = testOutput.Name;
        string configuration = testOutput.Parent!.Name;
        DirectoryInfo? root = testOutput;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "DataflowProducer.sln")))
        {
            root = root.Parent;
        }

        string path = Path.Combine(root?.FullName ?? throw new InvalidOperationException("No DataflowProducer.sln above " + testOutput.FullName), "src", "DataflowProducer.Cli", "bin", configuration, framework, "dataflow-producer.dll");
        Assert.That(File.Exists(path), Is.True, $"The tool is not built: {path}");
        return path;
    }
}
