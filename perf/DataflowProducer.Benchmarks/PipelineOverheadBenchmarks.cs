using System.Threading.Tasks.Dataflow;
using BenchmarkDotNet.Attributes;

namespace DataflowProducer.Benchmarks;

/// <summary>
/// The pipeline's own cost per message over a sink that costs nothing (<see cref="CompletedBatchSink{T}"/>), against
/// the hand-written minimum a user would otherwise build: a <c>BatchBlock</c> linked to an <c>ActionBlock</c> that
/// "sends" each batch. The items are created in setup, so the Allocated column is what the blocks allocate.
/// </summary>
[MemoryDiagnoser]
public class PipelineOverheadBenchmarks
{
    private const int Items = 1_000_000;
    private const int BatchSize = 1000;

    private object[] _items = [];

    [GlobalSetup]
    public void Setup()
    {
        _items = new object[Items];
        for (int i = 0; i < _items.Length; i++)
        {
            _items[i] = new object();
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Items)]
    public async Task<long> BatchBlockToActionBlock()
    {
        long sent = 0;
        var batcher = new BatchBlock<object>(BatchSize, new GroupingDataflowBlockOptions { BoundedCapacity = new BatchProducerOptions().BoundedCapacity });
        var send = new ActionBlock<object[]>(batch => sent += batch.Length, new ExecutionDataflowBlockOptions { BoundedCapacity = 1 });
        batcher.LinkTo(send, new DataflowLinkOptions { PropagateCompletion = true });
        foreach (object item in _items)
        {
            if (!batcher.Post(item))
            {
                await batcher.SendAsync(item);
            }
        }

        batcher.Complete();
        await send.Completion;
        return sent;
    }

    [Benchmark(OperationsPerInvoke = Items)]
    public async Task<long> BatchProducerBlock()
    {
        var sink = new CompletedBatchSink<object>();
        var block = new BatchProducerBlock<object>(sink, new BatchProducerOptions { BatchSize = BatchSize });
        foreach (object item in _items)
        {
            if (!block.Post(item))
            {
                await block.SendAsync(item);
            }
        }

        block.Complete();
        await block.Completion;
        return sink.Items;
    }
}
