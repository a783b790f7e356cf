using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka;

namespace DataflowProducer.Cli.Input;

/// <summary><c>copy</c>'s single reader: takes each consumed record from the consumer source and sends it to the
/// pipeline, in consumed order, with the key, value, headers and timestamp as they are, and the record's position as
/// its <see cref="KafkaRecord{TKey, TValue}.Correlation"/> (what the committer reads).</summary>
internal sealed class ConsumePump
{
    private readonly ISourceBlock<ConsumeResult<byte[]?, byte[]?>> _source;
    private readonly ITargetBlock<KafkaRecord<byte[]?, byte[]>> _pipeline;
    private long _refused;

    /// <summary>Initializes a pump.</summary>
    /// <param name="source">The consumed records.</param>
    /// <param name="pipeline">Where the records go.</param>
    public ConsumePump(ISourceBlock<ConsumeResult<byte[]?, byte[]?>> source, ITargetBlock<KafkaRecord<byte[]?, byte[]>> pipeline)
    {
        _source = source;
        _pipeline = pipeline;
    }

    /// <summary>Gets the number of records the aborting pipeline refused (never sent, counted abandoned): 0 or 1.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Copies until the source completes (the end of every partition, without <c>--follow</c>), a first
    /// signal stops it, or the pipeline refuses a record.</summary>
    /// <param name="stopping">The first signal.</param>
    /// <returns>Why the copy's input ended. A fault of the source comes out as its exception.</returns>
    public async Task<InputEnd> RunAsync(CancellationToken stopping)
    {
        while (true)
        {
            ConsumeResult<byte[]?, byte[]?> consumed;
            try
            {
                consumed = await _source.ReceiveAsync(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return InputEnd.Stopped;
            }
            catch (InvalidOperationException)
            {
                // The source completed without another record: at the end of every partition, or faulted (which the
                // await rethrows).
                await _source.Completion.ConfigureAwait(false);
                return InputEnd.EndOfInput;
            }

            KafkaRecord<byte[]?, byte[]> record = ToRecord(consumed);

            // As InputPump: not canceled by a stop request; only an aborting pipeline refuses a record. A refused
            // record is not committed, so the next run reads it again.
            if (!await _pipeline.SendAsync(record).ConfigureAwait(false))
            {
                Interlocked.Increment(ref _refused);
                return InputEnd.Refused;
            }
        }
    }

    /// <summary>The record to produce for a consumed one: the same key, value and headers (bytes as they are), and
    /// the same timestamp (as the record's create time; none when the source record has none).</summary>
    /// <param name="consumed">The consumed record.</param>
    /// <returns>The record, with the consumed position as its correlation.</returns>
    internal static KafkaRecord<byte[]?, byte[]> ToRecord(ConsumeResult<byte[]?, byte[]?> consumed)
    {
        Message<byte[]?, byte[]?> message = consumed.Message;
        return new KafkaRecord<byte[]?, byte[]>
        {
            Key = message.Key,

            // A tombstone (null value) is copied as a tombstone.
            Value = message.Value!,
            Headers = message.Headers is { Count: > 0 } headers ? headers : null,
            Timestamp = message.Timestamp.Type == TimestampType.NotAvailable ? default : new Timestamp(message.Timestamp.UnixTimestampMs, TimestampType.CreateTime),
            Correlation = consumed.TopicPartitionOffset,
        };
    }
}
