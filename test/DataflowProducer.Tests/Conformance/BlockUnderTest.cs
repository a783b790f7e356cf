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

    /// <summary>The runtime's block (the oracle), or ours in count-only mode, with only the options both have set.</summary>
    public static BlockUnderTest Create(string kind, int batchSize, int boundedCapacity = DataflowBlockOptions.Unbounded) =>
        Build(kind, batchSize, boundedCapacity, CancellationToken.None);

    /// <summary>As <see cref="Create"/>, with the block's own cancellation token set.</summary>
    public static BlockUnderTest CreateCanceledBy(string kind, int batchSize, CancellationToken blockToken) =>
        Build(kind, batchSize, DataflowBlockOptions.Unbounded, blockToken);

    private static BlockUnderTest Build(string kind, int batchSize, int boundedCapacity, CancellationToken cancellationToken)
    {
        switch (kind)
        {
            case Runtime:
                var runtime = new BatchBlock<int>(batchSize, new GroupingDataflowBlockOptions { BoundedCapacity = boundedCapacity, CancellationToken = cancellationToken });
                return new BlockUnderTest(runtime, runtime.TriggerBatch, () => runtime.OutputCount);
            case Linger:
                var linger = new LingerBatchBlock<int>(new LingerBatchBlockOptions
                {
                    BatchSize = batchSize,
                    Linger = Timeout.InfiniteTimeSpan,
                    BoundedCapacity = boundedCapacity,
                    CancellationToken = cancellationToken,
                });
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
