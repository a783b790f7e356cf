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
