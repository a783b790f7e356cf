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
}
