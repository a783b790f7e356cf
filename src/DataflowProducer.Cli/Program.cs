using System.Threading.Tasks.Dataflow;
using DataflowProducer;

// Reads lines from standard input, batches them (up to 100 lines or 200 ms from the first line of a batch),
// and prints one line per batch. Ctrl+D ends the input; the last partial batch is always printed.
var batches = new LingerBatchBlock<string>(batchSize: 100, linger: TimeSpan.FromMilliseconds(200));
int batchNumber = 0;
var printer = new ActionBlock<string[]>(batch =>
    Console.WriteLine($"batch {++batchNumber}: {batch.Length} line(s), first = \"{batch[0]}\", last = \"{batch[^1]}\""));
batches.LinkTo(printer, new DataflowLinkOptions { PropagateCompletion = true });

string? line;
while ((line = await Console.In.ReadLineAsync().ConfigureAwait(false)) is not null)
{
    await batches.SendAsync(line).ConfigureAwait(false);
}

batches.Complete();
await printer.Completion.ConfigureAwait(false);
Console.WriteLine($"done: {batchNumber} batch(es)");
