using System.Diagnostics;
using System.Threading.Tasks.Dataflow;

namespace DataflowProducer.Benchmarks.Quick;

// The pipeline's own cost of outcomes (BatchProducerOptions.EmitOutcomes): the same pipeline over a sink that costs
// nothing, with outcomes off and with outcomes on and read by an ActionBlock that touches every item's status.
public static partial class QuickRunner
{
    private static async Task<(Measurements Off, Measurements On)> RunOutcomesAsync(QuickOptions options)
    {
        int items = options.BatchingItems / 2;
        object[] values = [.. Enumerable.Range(0, items).Select(static _ => new object())];
        var off = new Measurements("pipeline over a free sink, outcomes off", "items/s");
        var on = new Measurements("pipeline over a free sink, outcomes on (read)", "items/s");
        var contenders = new (Measurements Into, bool Outcomes)[] { (off, false), (on, true) };

        Console.WriteLine($"# outcomes: {items:N0} items through BatchProducerBlock (defaults) over a sink that acknowledges at once; {options.BatchingRounds} rounds");
        for (int round = 0; round <= options.BatchingRounds; round++)
        {
            foreach (var (into, outcomes) in Rotated(contenders, round))
            {
                FullCollect();
                TimeSpan cpuBefore = Environment.CpuUsage.TotalTime;
                var watch = Stopwatch.StartNew();
                long counted = await RunPipelineOverFreeSinkAsync(values, outcomes).ConfigureAwait(false);
                watch.Stop();
                TimeSpan cpu = Environment.CpuUsage.TotalTime - cpuBefore;
                if (counted != items)
                {
                    throw new InvalidOperationException($"{into.Name}: {counted} of {items} counted.");
                }

                if (round > 0)
                {
                    into.Add(items, watch.Elapsed, cpu);
                }
            }
        }

        return (off, on);
    }

    // Returns the delivered count: from the outcomes when they are on (every item's status read), else the statistics.
    private static async Task<long> RunPipelineOverFreeSinkAsync(object[] values, bool outcomes)
    {
        var block = new BatchProducerBlock<object>(new CompletedBatchSink<object>(), new BatchProducerOptions { EmitOutcomes = outcomes });
        long delivered = 0;
        ActionBlock<BatchOutcome<object>>? reader = null;
        if (outcomes)
        {
            reader = new ActionBlock<BatchOutcome<object>>(batch =>
            {
                foreach (ItemOutcome<object> outcome in batch)
                {
                    delivered += outcome.Status == OutcomeStatus.Delivered ? 1 : 0;
                }
            });
            block.Outcomes.LinkTo(reader, new DataflowLinkOptions { PropagateCompletion = true });
        }

        foreach (object value in values)
        {
            if (!block.Post(value))
            {
                await block.SendAsync(value).ConfigureAwait(false);
            }
        }

        block.Complete();
        await block.Completion.ConfigureAwait(false);
        if (reader is null)
        {
            return block.GetStatistics().Delivered;
        }

        await reader.Completion.ConfigureAwait(false);
        return delivered;
    }
}
