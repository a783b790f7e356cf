using System.Threading.Tasks.Dataflow;
using NSubstitute;

namespace DataflowProducer.Kafka.Tests.TestSupport;

/// <summary>Real <see cref="BatchOutcome{T}"/>s (their constructor is the core's own): one batch per call, through a
/// <see cref="BatchProducerBlock{T}"/> with outcomes on over a substituted sink that reports each item's status as told.</summary>
internal static class OutcomeFactory
{
    public static async Task<BatchOutcome<T>> BatchAsync<T>(IReadOnlyList<T> items, Func<T, OutcomeStatus> status, CancellationToken ct)
    {
        var sink = Substitute.For<IBatchSink<T>>();
        Func<NSubstitute.Core.CallInfo, ValueTask<Task<BatchResult>>> accept = call =>
        {
            T[] batch = call.Arg<ReadOnlyMemory<T>>().ToArray();
            var failed = new List<BatchItemError>();
            var unknown = new List<int>();
            var notSent = new List<int>();
            for (int i = 0; i < batch.Length; i++)
            {
                switch (status(batch[i]))
                {
                    case OutcomeStatus.Failed:
                        failed.Add(new BatchItemError(i, new InvalidOperationException($"item {i} failed")));
                        break;
                    case OutcomeStatus.Unknown:
                        unknown.Add(i);
                        break;
                    case OutcomeStatus.NotSent:
                        notSent.Add(i);
                        break;
                }
            }

            return new ValueTask<Task<BatchResult>>(Task.FromResult(BatchResult.Create(failed, unknown, notSent)));
        };
#pragma warning disable CA2012 // NSubstitute's set-up call: the ValueTask is never consumed.
        sink.AcceptAsync(Arg.Any<ReadOnlyMemory<T>>(), Arg.Any<CancellationToken>()).Returns(accept);
#pragma warning restore CA2012
        sink.FlushAsync(Arg.Any<TimeSpan>(), Arg.Any<CancellationToken>()).Returns(Task.CompletedTask);

        await using var block = new BatchProducerBlock<T>(sink, new BatchProducerOptions { BatchSize = items.Count, BoundedCapacity = items.Count, Linger = Timeout.InfiniteTimeSpan, EmitOutcomes = true });
        var outcomes = new BufferBlock<BatchOutcome<T>>();
        block.Outcomes.LinkTo(outcomes, new DataflowLinkOptions { PropagateCompletion = true });
        foreach (T item in items)
        {
            await block.SendAsync(item, ct);
        }

        block.Complete();
        BatchOutcome<T> outcome = await outcomes.ReceiveAsync(ct);
        try
        {
            await block.Completion.WaitAsync(ct);
        }
        catch (BatchProducerException)
        {
            // Not everything was delivered: expected whenever a status says so.
        }

        return outcome;
    }
}
