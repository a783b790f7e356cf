using System.Threading.Tasks.Dataflow;
using NSubstitute;

namespace DataflowProducer.Testing.Tests;

// The test kit's one-line sink set-ups, used the way the README shows them.
public class BatchAcknowledgementsTests
{
    [Test, CancelAfter(10_000)]
    public async Task Delivered_OneLineSubstitute_PipelineDeliversEverything(CancellationToken ct)
    {
        var sink = Substitute.For<IBatchSink<int>>();
#pragma warning disable CA2012 // NSubstitute configures the call by making it; its ValueTask is never awaited.
        sink.AcceptAsync(default, default).ReturnsForAnyArgs(BatchAcknowledgements.Delivered());
#pragma warning restore CA2012
        var block = new BatchProducerBlock<int>(sink, new BatchProducerOptions { BatchSize = 3 });

        for (int i = 0; i < 10; i++)
        {
            Assert.That(await block.SendAsync(i, ct), Is.True);
        }

        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(10, 4, 10, 0, 0, 0)));
    }

    [Test, CancelAfter(10_000)]
    public async Task BareSubstitute_NothingConfigured_FailsSayingTheSinkMustBeConfigured(CancellationToken ct)
    {
        var sink = Substitute.For<IBatchSink<int>>();
        var block = new BatchProducerBlock<int>(sink, new BatchProducerOptions { BatchSize = 2 });
        block.Post(1);
        block.Post(2);
        block.Complete();

        Exception? error = null;
        try
        {
            await block.Completion.WaitAsync(ct);
        }
        catch (BatchProducerException ex)
        {
            error = ex;
        }

        Assert.That(error?.ToString(), Does.Contain("a sink (or a substitute of one) must"), "the error says what is missing");
    }

    [Test, CancelAfter(10_000)]
    public async Task Failed_Indexes_ThoseItemsFailRestDelivered(CancellationToken ct)
    {
        var error = new InvalidOperationException("refused");

        BatchResult result = await await BatchAcknowledgements.Failed(error, 0, 2);

        Assert.Multiple(() =>
        {
            Assert.That(result.Failed.Select(static f => f.Index), Is.EqualTo(new[] { 0, 2 }));
            Assert.That(result.Failed.Select(static f => f.Error), Is.All.SameAs(error));
            Assert.That(result.Abandoned, Is.Empty);
        });
    }

    [Test]
    public void Completed_NullResult_Throws()
    {
        Assert.That(() => BatchAcknowledgements.Completed(null!), Throws.ArgumentNullException);
    }
}
