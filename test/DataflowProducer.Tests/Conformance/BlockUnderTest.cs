using System.Threading.Tasks.Dataflow;

namespace DataflowProducer.Tests.Conformance;

/// <summary>
/// One batching block seen through the surface that <see cref="BatchBlock{T}"/> and <see cref="LingerBatchBlock{T}"/>
/// share, so a conformance scenario runs unchanged against both.
/// </summary>
public sealed class BlockUnderTest
{
    public const string Runtime = nameof(BatchBlock<int>);
    public const string Linger = nameof(LingerBatchBlock<int>);

    private readonly Func<int> _outputCount;

    private BlockUnderTest(IPropagatorBlock<int, int[]> block, Action triggerBatch, Func<int> outputCount)
    {
        Block = block;
        Source = (IReceivableSourceBlock<int[]>)block;
        TriggerBatch = triggerBatch;
        _outputCount = outputCount;
    }

    public IPropagatorBlock<int, int[]> Block { get; }

    public IReceivableSourceBlock<int[]> Source { get; }

    public ITargetBlock<int> Target => Block;

    public Action TriggerBatch { get; }

    public Task Completion => Block.Completion;

    /// <summary>The number of batches waiting to be taken (both blocks have it; no interface does).</summary>
    public int OutputCount => _outputCount();

    /// <summary>The runtime's block (the oracle), or ours in count-only mode with nothing else set.</summary>
    public static BlockUnderTest Create(string kind, int batchSize)
    {
        switch (kind)
        {
            case Runtime:
                var runtime = new BatchBlock<int>(batchSize);
                return new BlockUnderTest(runtime, runtime.TriggerBatch, () => runtime.OutputCount);
            case Linger:
                var linger = new LingerBatchBlock<int>(batchSize, Timeout.InfiniteTimeSpan);
                return new BlockUnderTest(linger, linger.TriggerBatch, () => linger.OutputCount);
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown block kind.");
        }
    }

    public void PostAll(params int[] items)
    {
        foreach (int item in items)
        {
            Assert.That(Target.Post(item), Is.True, $"Post({item})");
        }
    }
}
