using BenchmarkDotNet.Attributes;
using DataflowProducer.Benchmarks.Contenders;

namespace DataflowProducer.Benchmarks;

/// <summary>Items posted to a <c>BufferBlock</c> that feeds the batch block (offers from a source, the linked-graph
/// case); results are per item.</summary>
[MemoryDiagnoser]
public class BufferedBatchingBenchmarks
{
    private const int Items = 1_000_000;

    [Params(100, 1000)]
    public int BatchSize { get; set; }

    [Benchmark(Baseline = true, OperationsPerInvoke = Items)]
    public Task<long> BatchBlock() => BatchingContenders.BatchBlockAsync(Items, BatchSize, viaBufferBlock: true);

    [Benchmark(OperationsPerInvoke = Items)]
    public Task<long> LingerBatchBlock() => BatchingContenders.LingerBatchBlockAsync(Items, BatchSize, viaBufferBlock: true);
}
