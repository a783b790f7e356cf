using System.Threading.Tasks.Dataflow;
using DataflowProducer.Kafka.Tests.TestSupport;
using NSubstitute;

namespace DataflowProducer.Kafka.Tests;

public partial class KafkaBatchSinkTests
{
    [Test, Repeat(30), CancelAfter(10_000)]
    public async Task Fault_WhileTheSinkWaitsForRoom_TheBatchIsReportedItemByItemNotAllUnknown(CancellationToken ct)
    {
        _stub.React = (n, m) => n < 2 ? Reaction.Hold : Reaction.QueueFull(m);
        var block = KafkaProducerBlock.Create(
            _stub.Producer,
            new KafkaSinkOptions<string, string> { DefaultTopic = "t", QueueFullRetryInterval = TimeSpan.FromHours(1) },
            new BatchProducerOptions { BatchSize = 5, Linger = Timeout.InfiniteTimeSpan, EmitOutcomes = true, SettleTime = TimeSpan.Zero });
        var outcomes = new BufferBlock<BatchOutcome<KafkaRecord<string, string>>>();
        block.Outcomes.LinkTo(outcomes, new DataflowLinkOptions { PropagateCompletion = true });
        foreach (var record in Records.Create(5, topic: null))
        {
            Assert.That(block.Post(record), Is.True);
        }

        await _stub.WhenAttempts(3).WaitAsync(ct);
        ((IDataflowBlock)block).Fault(new InvalidOperationException("stop"));
        await Records.ExceptionOf(block.Completion.WaitAsync(ct));
        BatchOutcome<KafkaRecord<string, string>> outcome = await outcomes.ReceiveAsync(ct);

        Assert.That((outcome.Unknown, outcome.NotSent), Is.EqualTo((2, 3)), "0 and 1 were handed to the client, 2-4 never were");
    }

    // A core finding, kept for the core's owner (see the issue note): after an abort, FinishAsync settles the batch
    // still inside AcceptAsync as wholly unknown if the call has not returned yet, even when it returns a moment later
    // (here 200 ms, well within the settle time) with an acknowledgement that says what was not sent. The Kafka sink
    // returns that acknowledgement as soon as it sees the cancellation, so the split depends on thread timing: the
    // hostile-plugin grid shows AsyncKeySerializerNeverCompletes as 15 not sent in one run, 10 + 5 unknown in another.
    [Test, Explicit("Fails: core FinishAsync does not wait for an AcceptAsync that returns within the settle time after an abort")]
    [CancelAfter(30_000)]
    public async Task Fault_SinkReturnsItsAcknowledgementShortlyAfterTheAbort_NotSentItemsAreReportedNotSent(CancellationToken ct)
    {
        var sink = Substitute.For<IBatchSink<int>>();
#pragma warning disable CA2012 // NSubstitute's set-up call: the ValueTask is never consumed.
        sink.AcceptAsync(Arg.Any<ReadOnlyMemory<int>>(), Arg.Any<CancellationToken>()).Returns(call => AcceptLateAsync(call.Arg<ReadOnlyMemory<int>>().Length, call.Arg<CancellationToken>()));
#pragma warning restore CA2012
        sink.FlushAsync(Arg.Any<TimeSpan>(), Arg.Any<CancellationToken>()).Returns(Task.CompletedTask);
        var block = new BatchProducerBlock<int>(sink, new BatchProducerOptions { BatchSize = 5, Linger = Timeout.InfiniteTimeSpan, EmitOutcomes = true, SettleTime = TimeSpan.FromSeconds(5) });
        var outcomes = new BufferBlock<BatchOutcome<int>>();
        block.Outcomes.LinkTo(outcomes, new DataflowLinkOptions { PropagateCompletion = true });
        for (int i = 0; i < 5; i++)
        {
            Assert.That(block.Post(i), Is.True);
        }

        await Task.Delay(100, ct);
        ((IDataflowBlock)block).Fault(new InvalidOperationException("stop"));
        await Records.ExceptionOf(block.Completion.WaitAsync(ct));
        BatchOutcome<int> outcome = await outcomes.ReceiveAsync(ct);

        Assert.That(outcome.NotSent, Is.EqualTo(5), "the sink said it sent none of them");

        static async ValueTask<Task<BatchResult>> AcceptLateAsync(int count, CancellationToken cancellationToken)
        {
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                await Task.Delay(200, CancellationToken.None);
            }

            return Task.FromResult(BatchResult.Create(null, null, Enumerable.Range(0, count)));
        }
    }
}
