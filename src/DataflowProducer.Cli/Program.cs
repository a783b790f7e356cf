using System.Runtime.InteropServices;
using DataflowProducer.Cli;

using var shutdown = new ShutdownSignal();

// Our own handling of SIGINT and SIGTERM: the first asks for a graceful stop, the second for an abort. Canceling
// the default (termination) is what lets the drain and the summary run.
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => context.Cancel = shutdown.Request(context.Signal));
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => context.Cancel = shutdown.Request(context.Signal));

var console = new CliConsole(Console.OpenStandardInput, Console.Out, Console.Error, !Console.IsErrorRedirected, shutdown);
return await CliApplication.RunAsync(args, console).ConfigureAwait(false);
