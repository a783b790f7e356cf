using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Tests.TestSupport;
using NSubstitute;

namespace DataflowProducer.Kafka.Tests;

/// <summary>The sink end to end through <see cref="KafkaProducerBlock.Create{TKey, TValue}(IProducer{TKey, TValue}, KafkaSinkOptions{TKey, TValue}?, BatchProducerOptions?, BatchProducerCallbacks{KafkaRecord{TKey, TValue}}?, Microsoft.Extensions.Logging.ILoggerFactory?)"/>.</summary>
public partial class KafkaBatchSinkTests
{
    private List<(KafkaRecord<string, string> Record, Exception Error)> _failed = null!;
    private List<KafkaRecord<string, string>> _abandoned = null!;

    private BatchProducerBlock<KafkaRecord<string, string>> CreateBlock(int batchSize, TimeSpan drainTimeout) =>
        KafkaProducerBlock.Create(
            _stub.Producer,
            new KafkaSinkOptions<string, string> { DefaultTopic = "t" },
            new BatchProducerOptions { BatchSize = batchSize, DrainTimeout = drainTimeout, TimeProvider = _time },
            new BatchProducerCallbacks<KafkaRecord<string, string>>
            {
                ItemFailed = (record, error) =>
                {
                    lock (_failed)
                    {
                        _failed.Add((record, error));
                    }
                },
                ItemsAbandoned = (records, _) =>
                {
                    lock (_abandoned)
                    {
                        _abandoned.AddRange(records);
                    }
                },
            });

    [Test, CancelAfter(10_000)]
    public async Task Create_SerializerAndDeliveryErrorsForSome_ItemFailedOnceEachWithTheOriginalRecord(CancellationToken ct)
    {
        _stub.React = (_, m) => m.Value switch
        {
            "v3" => Reaction.Refuse(ProducerStub.ProduceError(ErrorCode.Local_ValueSerialization, m)),
            "v7" => Reaction.Fail(ErrorCode.Local_MsgTimedOut),
            _ => Reaction.Deliver,
        };
        var records = Records.Create(10, topic: null);
        var block = CreateBlock(batchSize: 4, TimeSpan.FromSeconds(30));

        foreach (var record in records)
        {
            Assert.That(block.Post(record), Is.True);
        }

        block.Complete();
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));

        BatchProducerStatistics statistics = block.GetStatistics();
        Assert.Multiple(() =>
        {
            Assert.That(_failed.Select(f => f.Record), Is.EqualTo(new[] { records[3], records[7] }).Using((System.Collections.IEqualityComparer)ReferenceEqualityComparer.Instance));
            Assert.That(((KafkaException)_failed[0].Error).Error.Code, Is.EqualTo(ErrorCode.Local_ValueSerialization));
            Assert.That(((KafkaException)_failed[1].Error).Error.Code, Is.EqualTo(ErrorCode.Local_MsgTimedOut));
            Assert.That(_abandoned, Is.Empty);
            Assert.That(statistics, Is.EqualTo(new BatchProducerStatistics(Accepted: 10, Batches: 3, Delivered: 8, Failed: 2, Abandoned: 0, InFlight: 0)));
            Assert.That(completion, Is.InstanceOf<BatchProducerException>().With.Message.Contains("2 failed"));
            Assert.That(_stub.Attempts.Select(a => a.TopicPartition.Topic), Is.All.EqualTo("t"));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Create_FlushLeavesMessagesWithoutReport_HandedBackThroughItemsAbandonedWithExactCounts(CancellationToken ct)
    {
        _stub.React = (n, _) => n % 2 == 0 ? Reaction.Deliver : Reaction.Hold;
        var records = Records.Create(10, topic: null);
        var block = CreateBlock(batchSize: 10, drainTimeout: TimeSpan.FromSeconds(5));

        foreach (var record in records)
        {
            Assert.That(block.Post(record), Is.True);
        }

        block.Complete();
        await _stub.WhenAttempts(10).WaitAsync(ct);

        // The odd messages never get a report: the drain times out and the sink's final flush gives up on them.
        _time.Advance(TimeSpan.FromSeconds(5));
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));

        BatchProducerStatistics statistics = block.GetStatistics();
        Assert.Multiple(() =>
        {
            Assert.That(_abandoned, Is.EquivalentTo(records.Where((_, i) => i % 2 == 1)).Using((System.Collections.IEqualityComparer)ReferenceEqualityComparer.Instance));
            Assert.That(_failed, Is.Empty);
            Assert.That(statistics, Is.EqualTo(new BatchProducerStatistics(Accepted: 10, Batches: 1, Delivered: 5, Failed: 0, Abandoned: 5, InFlight: 0) { Unknown = 5 }), "handed to the client, no report: unknown");
            Assert.That(completion, Is.InstanceOf<BatchProducerException>().With.Message.Contains("5 abandoned"));
        });
        _stub.Producer.Received().Flush(TimeSpan.Zero);
    }

    [Test, CancelAfter(10_000)]
    public async Task Create_OverExistingProducer_CompletesWithoutDisposingIt(CancellationToken ct)
    {
        var block = CreateBlock(batchSize: 2, TimeSpan.FromSeconds(30));
        foreach (var record in Records.Create(5, topic: null))
        {
            Assert.That(await block.SendAsync(record, ct), Is.True);
        }

        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.That(block.GetStatistics().Delivered, Is.EqualTo(5));
        _stub.Producer.Received(1).Flush(TimeSpan.FromSeconds(30));
        _stub.Producer.DidNotReceive().Dispose();
    }

    [Test, CancelAfter(10_000)]
    public async Task Create_QueueFullWhilePosting_PosterNeverSeesItAndEverythingIsDeliveredInOrder(CancellationToken ct)
    {
        _stub.React = (n, m) => n is >= 3 and < 6 ? Reaction.QueueFull(m) : Reaction.Deliver;
        // The fake clock also drives the drain timeout; it must not run out while the test moves time on.
        var block = CreateBlock(batchSize: 4, Timeout.InfiniteTimeSpan);

        foreach (var record in Records.Create(8, topic: null))
        {
            Assert.That(await block.SendAsync(record, ct), Is.True);
        }

        block.Complete();
        await AdvanceUntilCompleted(block.Completion, ct);
        await block.Completion.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(_stub.ProducedValues, Is.EqualTo(Records.Values(8)));
            Assert.That(block.GetStatistics().Delivered, Is.EqualTo(8));
        });
    }
}
