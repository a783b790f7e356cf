using BenchmarkDotNet.Running;
using DataflowProducer.Benchmarks.Quick;

// `-- quick [--messages N] [--rounds N]`: the one-command ratio report. Anything else goes to BenchmarkDotNet.
if (args.Length > 0 && string.Equals(args[0], "quick", StringComparison.OrdinalIgnoreCase))
{
    return await QuickRunner.RunAsync(QuickOptions.Parse(args[1..]));
}

if (args.Length > 0 && string.Equals(args[0], "quick-batching", StringComparison.OrdinalIgnoreCase))
{
    return await QuickRunner.RunBatchingOnlyAsync(QuickOptions.Parse(args[1..]));
}

if (args.Length > 0 && string.Equals(args[0], "quick-outcomes", StringComparison.OrdinalIgnoreCase))
{
    return await QuickRunner.RunOutcomesOnlyAsync(QuickOptions.Parse(args[1..]));
}

if (args.Length > 0 && string.Equals(args[0], "quick-broker", StringComparison.OrdinalIgnoreCase))
{
    return await QuickRunner.RunBrokerAsync(QuickOptions.Parse(args[1..]));
}

// `-- quick-all`: the in-process report, then the same contenders against a broker in another process with the CLI
// against kcat: RATIO lines for both brokers in one run.
if (args.Length > 0 && string.Equals(args[0], "quick-all", StringComparison.OrdinalIgnoreCase))
{
    QuickOptions options = QuickOptions.Parse(args[1..]);
    int inProcess = await QuickRunner.RunAsync(options);
    Console.WriteLine();
    int broker = await QuickRunner.RunBrokerAsync(options);
    return inProcess != 0 ? inProcess : broker;
}

if (args.Length > 0 && string.Equals(args[0], "quick-waits", StringComparison.OrdinalIgnoreCase))
{
    return await QuickRunner.RunWaitsOnlyAsync(QuickOptions.Parse(args[1..]));
}

if (args.Length > 0 && string.Equals(args[0], "quick-scaling", StringComparison.OrdinalIgnoreCase))
{
    return await QuickRunner.RunScalingAsync(QuickOptions.Parse(args[1..]));
}

if (args.Length > 0 && string.Equals(args[0], "quick-adaptive", StringComparison.OrdinalIgnoreCase))
{
    return await QuickRunner.RunAdaptiveAsync(QuickOptions.Parse(args[1..]));
}

if (args.Length > 0 && string.Equals(args[0], "quick-bytes", StringComparison.OrdinalIgnoreCase))
{
    return await QuickRunner.RunBytesAsync();
}

if (args.Length > 0 && string.Equals(args[0], "soak", StringComparison.OrdinalIgnoreCase))
{
    return await SoakRunner.RunAsync(args[1..]);
}

BenchmarkSwitcher.FromAssembly(typeof(QuickRunner).Assembly).Run(args);
return 0;
