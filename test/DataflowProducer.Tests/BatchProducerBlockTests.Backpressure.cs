using System.Threading.Tasks.Dataflow;
using DataflowProducer.Testing;

namespace DataflowProducer.Tests;

// Backpressure (DESIGN 4.6): BoundedCapacity bounds every item whose outcome is not known yet, wherever it is;
// SendAsync waits, Post declines, and room comes back only with acknowledgements.
public partial class BatchProducerBlockTests
{
    [Test, CancelAfter(10_000)]
    public async Task SendAsync_CapacityHeldByUnacknowledgedBatches_WaitsUntilAnAcknowledgement(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int> { AcknowledgeImmediately = false };
        var block = CreateSut(sink, Options(batchSize: 10, boundedCapacity: 100));
        for (int i = 0; i < 100; i++)
        {
            Assert.That(await block.SendAsync(i, ct), Is.True, $"SendAsync({i})");
        }

        Task<bool> sending = block.SendAsync(100, ct);
        bool posted = block.Post(101);
        await sink.WaitForBatchesAsync(1, ct);
        BatchProducerStatistics full = block.GetStatistics();

        Assert.Multiple(() =>
        {
            Assert.That(sending.IsCompleted, Is.False, "the 101st SendAsync waits");
            Assert.That(posted, Is.False, "Post declines when full");
            Assert.That(full.Accepted, Is.EqualTo(100));
            AssertRunningInvariant(full);
        });

        Assert.That(sink.AcknowledgeNext(), Is.True);
        Assert.That(await sending.WaitAsync(ct), Is.True, "room came back with the acknowledgement");

        block.Complete();
        sink.AcknowledgeImmediately = true;
        sink.AcknowledgeAll();
        await block.Completion.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(sink.Items, Is.EqualTo(Enumerable.Range(0, 101)));
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(101, 11, 101, 0, 0, 0)));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Post_CapacityHeldByUnacknowledgedBatches_DeclinesUntilAnAcknowledgement(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int> { AcknowledgeImmediately = false };
        var block = CreateSut(sink, Options(batchSize: 10, boundedCapacity: 20, maxInFlightBatches: 8));
        PostAll(block, Enumerable.Range(0, 20));
        await sink.WaitForBatchesAsync(2, ct);

        Assert.That(block.Post(20), Is.False);

        // Room comes back with the acknowledgement; SendAsync waits for it where Post would race it.
        Assert.That(sink.AcknowledgeNext(), Is.True);
        Assert.That(await block.SendAsync(20, ct), Is.True);
        Assert.That(block.GetStatistics().Accepted, Is.EqualTo(21));
    }

    [Test, CancelAfter(10_000)]
    public async Task SendAsync_ManyPostersOnSmallCapacity_AllDeliveredInPerPosterOrder(CancellationToken ct)
    {
        var sink = new RecordingBatchSink<int>();
        var block = CreateSut(sink, Options(batchSize: 4, boundedCapacity: 8, maxInFlightBatches: 1));

        await Task.WhenAll(Enumerable.Range(0, 4).Select(p => Task.Run(
            async () =>
            {
                for (int i = 0; i < 250; i++)
                {
                    Assert.That(await block.SendAsync((p * 1000) + i, ct), Is.True);
                }
            },
            ct))).WaitAsync(ct);
        block.Complete();
        await block.Completion.WaitAsync(ct);

        IReadOnlyList<int> items = sink.Items;
        Assert.Multiple(() =>
        {
            Assert.That(items, Has.Count.EqualTo(1000));
            for (int p = 0; p < 4; p++)
            {
                Assert.That(items.Where(i => i / 1000 == p), Is.EqualTo(Enumerable.Range(p * 1000, 250)), $"poster {p}");
            }

            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(1000, block.GetStatistics().Batches, 1000, 0, 0, 0)));
        });
    }
}
