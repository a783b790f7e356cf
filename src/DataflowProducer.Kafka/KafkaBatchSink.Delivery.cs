using Confluent.Kafka;
using DataflowProducer.Kafka.Internal;

namespace DataflowProducer.Kafka;

// Delivery reports: each settles its message in its batch's tracker and frees room for a sender waiting on a full queue.
public sealed partial class KafkaBatchSink<TKey, TValue>
{
    private sealed class Delivery(KafkaBatchSink<TKey, TValue> sink, BatchTracker tracker, int index, KafkaRecord<TKey, TValue> record)
    {
        public void OnReport(DeliveryReport<TKey, TValue> report)
        {
            if (report.Error.IsError)
            {
                sink.FatalCheck(report.Error);
                tracker.Failed(index, new ProduceException<TKey, TValue>(report.Error, report));
            }
            else if (tracker.WantsReceipts)
            {
                tracker.Delivered(index, Receipt(report));
            }
            else
            {
                tracker.Delivered(index);
            }

            sink._room.Pulse();
        }

        public void OnBytesReport(DeliveryReport<byte[]?, byte[]?> report)
        {
            if (report.Error.IsError)
            {
                sink.FatalCheck(report.Error);
                tracker.Failed(index, Failure(report.Error, record, report.Topic, inner: null, report.TopicPartitionOffset));
            }
            else if (tracker.WantsReceipts)
            {
                tracker.Delivered(index, Receipt(report));
            }
            else
            {
                tracker.Delivered(index);
            }

            sink._room.Pulse();
        }

        private static DeliveryReceipt Receipt<TK, TV>(DeliveryReport<TK, TV> report) =>
            new(
                report.Topic,
                report.Partition.IsSpecial ? null : report.Partition.Value,
                report.Offset.IsSpecial ? null : report.Offset.Value,
                report.Message?.Timestamp is { Type: not TimestampType.NotAvailable } timestamp ? DateTimeOffset.FromUnixTimeMilliseconds(timestamp.UnixTimestampMs) : null);
    }

    private void FatalCheck(Error error)
    {
        if (error.IsFatal)
        {
            MarkFatal(error);
        }
    }
}
