using System.Threading.Tasks.Dataflow;

namespace DataflowProducer.Benchmarks.Contenders;

/// <summary><c>LingerBatchBlock&lt;int&gt;</c> against the runtime's <c>BatchBlock&lt;int&gt;</c>, each linked with
/// <c>PropagateCompletion</c> to an <c>ActionBlock&lt;int[]&gt;</c> that counts the items it receives.</summary>
public static class BatchingContenders
{
    /// <summary>The linger of the <c>LingerBatchBlock</c> in the batching comparison: long enough never to fire, so
    /// both blocks cut batches by count (the timer is still armed for every batch, a cost the comparison includes).</summary>
    public static readonly TimeSpan Linger = TimeSpan.FromSeconds(1);

    public static Task<long> BatchBlockAsync(int count, int batchSize, bool viaBufferBlock) =>
        RunAsync(new BatchBlock<int>(batchSize), count, viaBufferBlock);

    public static Task<long> LingerBatchBlockAsync(int count, int batchSize, bool viaBufferBlock) =>
        RunAsync(new LingerBatchBlock<int>(batchSize, Linger), count, viaBufferBlock);

    private static async Task<long> RunAsync(IPropagatorBlock<int, int[]> batcher, int count, bool viaBufferBlock)
    {
        long items = 0;

        // MaxDegreeOfParallelism 1 (the default): the delegate never runs concurrently with itself.
        var counter = new ActionBlock<int[]>(batch => items += batch.Length);
        var link = new DataflowLinkOptions { PropagateCompletion = true };
        batcher.LinkTo(counter, link);

        ITargetBlock<int> entry = batcher;
        if (viaBufferBlock)
        {
            var buffer = new BufferBlock<int>();
            buffer.LinkTo(batcher, link);
            entry = buffer;
        }

        for (int i = 0; i < count; i++)
        {
            if (!entry.Post(i))
            {
                throw new InvalidOperationException($"Item {i} was declined.");
            }
        }

        entry.Complete();
        await counter.Completion.ConfigureAwait(false);
        return items;
    }
}
