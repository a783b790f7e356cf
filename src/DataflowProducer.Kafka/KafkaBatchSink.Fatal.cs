using System.Runtime.ExceptionServices;
using Confluent.Kafka;
using DataflowProducer.Kafka.Diagnostics;

namespace DataflowProducer.Kafka;

// A fatal client error (or a client that breaks): recorded once, after which nothing more is handed to the client and
// the next batch or the flush throws it.
public sealed partial class KafkaBatchSink<TKey, TValue>
{
    private void ThrowIfBroken()
    {
        if (Volatile.Read(ref _broken) is { } broken)
        {
            ExceptionDispatchInfo.Throw(broken);
        }
    }

    // The first fatal error wins; later batches are refused with it.
    private void MarkFatal(Error error) => MarkBroken(new KafkaException(error));

    private void MarkBroken(Exception error)
    {
        if (Interlocked.CompareExchange(ref _broken, error, null) is null)
        {
            Log.ClientBroken(_logger, error);
        }
    }

    // Internal for tests: what the client's error handler does.
    internal void OnClientError(Error error)
    {
        Log.ClientError(_logger, error.Code, error.IsFatal, error.Reason);
        if (error.IsFatal)
        {
            MarkFatal(error);
        }
    }
}
