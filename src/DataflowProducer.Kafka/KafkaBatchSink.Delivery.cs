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
            else
            {
                tracker.Delivered(index);
            }

            sink._room.Pulse();
        }
    }

    private void FatalCheck(Error error)
    {
        if (error.IsFatal)
        {
            MarkFatal(error);
        }
    }
}
