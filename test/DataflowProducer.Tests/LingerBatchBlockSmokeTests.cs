using System.Threading.Tasks.Dataflow;
using Microsoft.Extensions.Time.Testing;

namespace DataflowProducer.Tests;

public class LingerBatchBlockSmokeTests
{
    // The seed regression. The race it once caught (completion propagated synchronously from inside the target's
    // ConsumeMessage) only shows in some runs, hence the repeats; LingerBatchBlockTests pins it deterministically.
    [Test, CancelAfter(10_000), Repeat(50)]
    public async Task Complete_HugeBatchAndLinger_LinkedActionBlockReceivesAll25(CancellationToken ct)
    {
        var time = new FakeTimeProvider();
        var block = new LingerBatchBlock<int>(new LingerBatchBlockOptions { BatchSize = 1_000_000, Linger = TimeSpan.FromHours(1), TimeProvider = time });
        var received = new List<int>();
        var sink = new ActionBlock<int[]>(received.AddRange);
        block.LinkTo(sink, new DataflowLinkOptions { PropagateCompletion = true });

        for (int i = 0; i < 25; i++)
        {
            Assert.That(block.Post(i), Is.True);
        }

        block.Complete();
        await sink.Completion.WaitAsync(ct);

        Assert.That(received, Is.EqualTo(Enumerable.Range(0, 25)));
    }
}
