using System.Threading.Tasks.Dataflow;

namespace DataflowProducer.Tests;

// BoundedCapacity: Post declines when full, SendAsync waits and is taken in order, and Complete gives pending offers
// back (SendAsync returns false) without their items ever appearing.
public partial class LingerBatchBlockTests
{
    [Test]
    public void Post_WhenFull_Declines()
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time, batchSize: 2, boundedCapacity: 3);
        PostAll(block, 1, 2, 3);

        Assert.That(block.Post(4), Is.False);

        Assert.That(block.TryReceive(out int[]? first), Is.True);
        Assert.Multiple(() =>
        {
            Assert.That(first, Is.EqualTo(new[] { 1, 2 }));
            Assert.That(block.Post(4), Is.True, "room again once a batch is taken");
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task SendAsync_BoundedCapacityWithSlowConsumer_PostponedSendsCompleteInOrder(CancellationToken ct)
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time, batchSize: 2, boundedCapacity: 2);
        PostAll(block, 0, 1);

        Task<bool>[] sends = [.. Enumerable.Range(2, 6).Select(i => block.SendAsync(i, ct))];
        Assert.That(sends.Any(s => s.IsCompleted), Is.False, "the block is full: every send waits");

        var received = new List<int>();
        for (int b = 0; b < 4; b++)
        {
            // ReceiveAsync links a one-message target: a slow consumer that takes one batch at a time.
            int[] batch = await block.ReceiveAsync(ct);
            received.AddRange(batch);
            foreach (int item in batch.Where(i => i >= 2))
            {
                Assert.That(await sends[item - 2].WaitAsync(ct), Is.True, $"SendAsync({item})");
            }

            // Taking batch b makes room for exactly the next two sends; the ones after them still wait, in line.
            Assert.That(sends.Skip((2 * b) + 2).Any(s => s.IsCompleted), Is.False, $"after batch {b}");
        }

        Assert.That(received, Is.EqualTo(Enumerable.Range(0, 8)));
    }

    [Test, CancelAfter(10_000)]
    public async Task Post_WhileOffersArePostponed_DeclinesSoPostponedOffersKeepTheirOrder(CancellationToken ct)
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time, batchSize: 2, boundedCapacity: 2);
        PostAll(block, 0, 1);
        Task<bool> send2 = block.SendAsync(2, ct);
        Task<bool> send3 = block.SendAsync(3, ct);

        // Taking the batch frees room, but the postponed offers of 2 and 3 are first in line (and then fill it).
        Assert.That(block.TryReceive(out _), Is.True);
        bool posted = block.Post(4);

        Assert.That(posted, Is.False);
        Assert.That(await send2.WaitAsync(ct), Is.True);
        Assert.That(await send3.WaitAsync(ct), Is.True);
        Assert.That(await block.ReceiveAsync(ct), Is.EqualTo(new[] { 2, 3 }));
    }

    [Test, CancelAfter(10_000)]
    public async Task SendAsync_PendingWhenCompleteIsCalled_ReturnsFalseAndItsItemNeverAppears(CancellationToken ct)
    {
        var time = new RecordingTimeProvider();
        var block = CreateSut(time, batchSize: 2, boundedCapacity: 2);
        PostAll(block, 0, 1);
        Task<bool> send2 = block.SendAsync(2, ct);
        Task<bool> send3 = block.SendAsync(3, ct);

        block.Complete();

        Assert.That(await send2.WaitAsync(ct), Is.False);
        Assert.That(await send3.WaitAsync(ct), Is.False);
        Assert.That(ReceiveAll(block), Is.EqualTo(new[] { new[] { 0, 1 } }));
        await block.Completion.WaitAsync(ct);
        Assert.That(ReceiveAll(block), Is.Empty);
    }
}
