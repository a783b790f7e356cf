using BenchmarkDotNet.Attributes;
using DataflowProducer.Benchmarks.Contenders;

namespace DataflowProducer.Benchmarks;

/// <summary>Items posted straight into the batch block; results are per item.</summary>
[MemoryDiagnoser]
public class DirectPostBatchingBenchmarks
{
    private const int Items = 1_000_000;

    [Params(100, 1000)]
    public int BatchSize { get; set; }

    [Benchmark(Baseline = true, OperationsPerInvoke = Items)]
    public Task<long> BatchBlock() => BatchingContenders.BatchBlockAsync(Items, BatchSize, viaBufferBlock: false);

    [Benchmark(OperationsPerInvoke = Items)]
    public Task<long> LingerBatchBlock() => BatchingContenders.LingerBatchBlockAsync(Items, BatchSize, viaBufferBlock: false);
}
