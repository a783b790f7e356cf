using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Cli.Input;
using DataflowProducer.Kafka;

namespace DataflowProducer.Cli.Tests.Input;

public class ConsumePumpTests
{
    private static readonly TopicPartitionOffset Position = new("from", 2, 41);

    [Test]
    public void ToRecord_KeyValueHeadersAndCreateTime_CopiedAsTheyAreWithThePositionAsCorrelation()
    {
        var headers = new Headers { { "h", [1, 2] } };
        var consumed = Consumed(new Message<byte[]?, byte[]?> { Key = [7], Value = [8, 9], Headers = headers, Timestamp = new Timestamp(1_700_000_000_123, TimestampType.CreateTime) });

        KafkaRecord<byte[]?, byte[]> record = ConsumePump.ToRecord(consumed);

        Assert.Multiple(() =>
        {
            Assert.That(record.Key, Is.EqualTo(new byte[] { 7 }));
            Assert.That(record.Value, Is.EqualTo(new byte[] { 8, 9 }));
            Assert.That(record.Headers, Is.SameAs(headers));
            Assert.That(record.Timestamp, Is.EqualTo(new Timestamp(1_700_000_000_123, TimestampType.CreateTime)));
            Assert.That(record.Correlation, Is.EqualTo(Position));
            Assert.That(record.Topic, Is.Null, "the destination is the sink's default topic");
            Assert.That(record.Partition, Is.Null, "partitioned by key in the destination");
        });
    }

    [Test]
    public void ToRecord_LogAppendTime_KeptAsTheCreateTimeOfTheCopy()
    {
        var consumed = Consumed(new Message<byte[]?, byte[]?> { Key = null, Value = [1], Timestamp = new Timestamp(1_600_000_000_000, TimestampType.LogAppendTime) });

        Assert.That(ConsumePump.ToRecord(consumed).Timestamp, Is.EqualTo(new Timestamp(1_600_000_000_000, TimestampType.CreateTime)));
    }

    [Test]
    public void ToRecord_TombstoneWithoutTimestampOrHeaders_StaysATombstoneWithoutThem()
    {
        var consumed = Consumed(new Message<byte[]?, byte[]?> { Key = [3], Value = null, Headers = [], Timestamp = Timestamp.Default });

        KafkaRecord<byte[]?, byte[]> record = ConsumePump.ToRecord(consumed);

        Assert.Multiple(() =>
        {
            Assert.That(record.Value, Is.Null);
            Assert.That(record.Headers, Is.Null);
            Assert.That(record.Timestamp.Type, Is.EqualTo(TimestampType.NotAvailable));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task RunAsync_SourceCompletes_EveryRecordSentInOrderThenEndOfInput(CancellationToken ct)
    {
        var source = new BufferBlock<ConsumeResult<byte[]?, byte[]?>>();
        var pipeline = new BufferBlock<KafkaRecord<byte[]?, byte[]>>();
        for (int i = 0; i < 3; i++)
        {
            source.Post(Consumed(new Message<byte[]?, byte[]?> { Value = [(byte)i] }, i));
        }

        source.Complete();

        InputEnd end = await new ConsumePump(source, pipeline).RunAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(end, Is.EqualTo(InputEnd.EndOfInput));
            Assert.That(pipeline.TryReceiveAll(out IList<KafkaRecord<byte[]?, byte[]>>? records), Is.True);
            Assert.That(records!.Select(r => ((TopicPartitionOffset)r.Correlation!).Offset.Value), Is.EqualTo(new long[] { 0, 1, 2 }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task RunAsync_SourceFaulted_TheFaultComesOut(CancellationToken ct)
    {
        var source = new BufferBlock<ConsumeResult<byte[]?, byte[]?>>();
        ((IDataflowBlock)source).Fault(new KafkaException(ErrorCode.UnknownTopicOrPart));

        KafkaException? error = null;
        try
        {
            await new ConsumePump(source, new BufferBlock<KafkaRecord<byte[]?, byte[]>>()).RunAsync(ct);
        }
        catch (KafkaException ex)
        {
            error = ex;
        }

        Assert.That(error?.Error.Code, Is.EqualTo(ErrorCode.UnknownTopicOrPart));
    }

    [Test, CancelAfter(10_000)]
    public async Task RunAsync_PipelineRefuses_CountedRefusedAndStops(CancellationToken ct)
    {
        var source = new BufferBlock<ConsumeResult<byte[]?, byte[]?>>();
        source.Post(Consumed(new Message<byte[]?, byte[]?> { Value = [1] }));
        var pipeline = new BufferBlock<KafkaRecord<byte[]?, byte[]>>();
        pipeline.Complete();
        var pump = new ConsumePump(source, pipeline);

        InputEnd end = await pump.RunAsync(ct);

        Assert.That((end, pump.Refused), Is.EqualTo((InputEnd.Refused, 1L)));
    }

    [Test, CancelAfter(10_000)]
    public async Task RunAsync_StopRequestedWhileWaiting_Stopped(CancellationToken ct)
    {
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var pump = new ConsumePump(new BufferBlock<ConsumeResult<byte[]?, byte[]?>>(), new BufferBlock<KafkaRecord<byte[]?, byte[]>>());

        Task<InputEnd> running = pump.RunAsync(stopping.Token);
        await stopping.CancelAsync();

        Assert.That(await running, Is.EqualTo(InputEnd.Stopped));
    }

    private static ConsumeResult<byte[]?, byte[]?> Consumed(Message<byte[]?, byte[]?> message, long offset = 41) =>
        new() { Message = message, TopicPartitionOffset = offset == 41 ? Position : new TopicPartitionOffset("from", 2, offset) };
}
