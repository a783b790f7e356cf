using Confluent.Kafka;
using DataflowProducer.Kafka.Diagnostics;
using DataflowProducer.Kafka.Internal;

namespace DataflowProducer.Kafka;

// Handing a batch to the client: serializing first when the sink runs the serializers, then each record in order,
// waiting for room (never dropping) while the client's queue is full, and failing only the record that is refused.
public sealed partial class KafkaBatchSink<TKey, TValue>
{
    private async ValueTask<Task<BatchResult>> SerializeThenProduceAsync(ReadOnlyMemory<KafkaRecord<TKey, TValue>> batch, SerializingMode mode, BatchTracker tracker, CancellationToken cancellationToken)
    {
        var serialized = new Message<byte[]?, byte[]?>?[batch.Length];
        for (int i = 0; i < batch.Length; i++)
        {
            KafkaRecord<TKey, TValue>? record = batch.Span[i];
            string? topic = record?.Topic ?? _options.DefaultTopic;
            if (record is null || topic is null)
            {
                // TryProduce fails it with the reason.
                continue;
            }

            var headers = record.Headers;
            try
            {
                (byte[]? key, Exception? keyError) = await SerializeAsync(mode.KeySerializer, record.Key, new SerializationContext(MessageComponentType.Key, topic, headers), cancellationToken).ConfigureAwait(false);
                if (keyError is not null)
                {
                    tracker.Failed(i, SerializationFailed(ErrorCode.Local_KeySerialization, "Key", record, topic, keyError));
                    continue;
                }

                (byte[]? value, Exception? valueError) = await SerializeAsync(mode.ValueSerializer, record.Value, new SerializationContext(MessageComponentType.Value, topic, headers), cancellationToken).ConfigureAwait(false);
                if (valueError is not null)
                {
                    tracker.Failed(i, SerializationFailed(ErrorCode.Local_ValueSerialization, "Value", record, topic, valueError));
                    continue;
                }

                serialized[i] = new Message<byte[]?, byte[]?> { Key = key, Value = value, Headers = headers, Timestamp = record.Timestamp };
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Aborted while a serializer ran: nothing of this batch was handed to the client yet.
                tracker.NotSentFrom(0);
                return tracker.Acknowledgement;
            }
        }

        return await ProduceAllAsync(batch, serialized, tracker, cancellationToken).ConfigureAwait(false);
    }

    // The serializer's result, or the error it ended with (thrown, a faulted task, a canceled task: the record's
    // failure). Throws only when the sink's own token is canceled, which a serializer that never completes cannot hold up.
    private static async Task<(byte[]? Bytes, Exception? Error)> SerializeAsync<T>(IAsyncSerializer<T> serializer, T data, SerializationContext context, CancellationToken cancellationToken)
    {
        Task<byte[]> serializing;
        try
        {
            serializing = serializer.SerializeAsync(data, context) ?? throw new InvalidOperationException("The serializer returned a null task.");
        }
        catch (Exception ex)
        {
            return (null, ex);
        }

        try
        {
            return (await serializing.WaitAsync(cancellationToken).ConfigureAwait(false), null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Observe(serializing);
            throw;
        }
        catch (Exception ex)
        {
            return (null, ex);
        }
    }

    private static ProduceException<TKey, TValue> SerializationFailed(ErrorCode code, string component, KafkaRecord<TKey, TValue> record, string topic, Exception error) =>
        Failure(new Error(code, $"{component} serialization failed: {error.Message}"), record, topic, error);

    // One error type for a message's failure whichever way the sink produces (typed or serialized bytes).
    private static ProduceException<TKey, TValue> Failure(Error error, KafkaRecord<TKey, TValue> record, string topic, Exception? inner, TopicPartitionOffset? position = null) =>
        new(error, new DeliveryResult<TKey, TValue> { Message = record, TopicPartitionOffset = position ?? new TopicPartitionOffset(topic, record.Partition ?? Partition.Any, Offset.Unset), Status = PersistenceStatus.NotPersisted }, inner);

    private async ValueTask<Task<BatchResult>> ProduceAllAsync(ReadOnlyMemory<KafkaRecord<TKey, TValue>> batch, Message<byte[]?, byte[]?>?[]? serialized, BatchTracker tracker, CancellationToken cancellationToken)
    {
        for (int i = 0; i < batch.Length; i++)
        {
            if (tracker.IsSettled(i))
            {
                continue;
            }

            if (Volatile.Read(ref _broken) is not null)
            {
                // Fail fast: after a fatal client error nothing more is handed to the client.
                tracker.NotSentFrom(i);
                return tracker.Acknowledgement;
            }

            int roomVersion = _room.Version;
            bool waitReported = false;
            while (!TryProduce(batch.Span[i], serialized?[i], tracker, i))
            {
                // Local_QueueFull: wait for a delivery report to free room, then retry this same message.
                Log.QueueFull(_logger, i);
                if (!waitReported)
                {
                    waitReported = true;
                    Volatile.Read(ref _signals)?.ClientQueueFull();
                }

                try
                {
                    await _room.WaitAsync(roomVersion, _options.QueueFullRetryInterval, _timeProvider, cancellationToken).ConfigureAwait(false);
                    roomVersion = _room.Version;
                }
                catch (OperationCanceledException)
                {
                    // Aborted while waiting: what was never handed to the client is not sent (safe to send again);
                    // the rest keeps its outcome, or is unknown if the settle time's flush ends without one. The
                    // acknowledgement is returned rather than an exception, so the pipeline reports it item by item.
                    tracker.NotSentFrom(i);
                    return tracker.Acknowledgement;
                }
            }
        }

        return tracker.Acknowledgement;
    }

    // Returns false only when the client's queue is full; any other problem is this message's failure.
    private bool TryProduce(KafkaRecord<TKey, TValue>? record, Message<byte[]?, byte[]?>? bytes, BatchTracker tracker, int index)
    {
        if (record is null)
        {
            tracker.Failed(index, new ArgumentNullException(nameof(record), $"Record {index} of the batch is null; a null record cannot be produced."));
            return true;
        }

        string? topic = record.Topic ?? _options.DefaultTopic;
        if (topic is null)
        {
            tracker.Failed(index, new ArgumentException("The record has no topic and the sink has no default topic (KafkaSinkOptions.DefaultTopic)."));
            return true;
        }

        // Records mostly share one topic string: a name is checked when it differs from the last one that passed
        // (racing accepts at worst check a name twice).
        if (!ReferenceEquals(topic, _checkedTopic))
        {
            if (!KafkaTopicName.IsValid(topic, out string? problem))
            {
                tracker.Failed(index, new ArgumentException($"The record's topic '{topic}' is not a legal Kafka topic name: {problem}."));
                return true;
            }

            _checkedTopic = topic;
        }

        if (!tracker.TryHandOver(index))
        {
            // A flush that gave up settled it as not sent meanwhile: it must not reach the client now.
            return true;
        }

        var delivery = new Delivery(this, tracker, index, record);
        try
        {
            _mode.Produce(topic, record, bytes, delivery);
            return true;
        }
        catch (KafkaException ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
        {
            tracker.TakeBack(index);
            return false;
        }
        catch (KafkaException ex)
        {
            // A serializer that threw (wrapped by the client as Local_KeySerialization/Local_ValueSerialization), a
            // message over message.max.bytes: this message fails, the batch goes on. A fatal error stops the rest.
            if (ex.Error.IsFatal)
            {
                MarkFatal(ex.Error);
            }
            else if (ex.Error.Code == ErrorCode.Local_Fatal)
            {
                // The client refuses messages with Local_Fatal once it has failed fatally, without the fatal flag.
                MarkFatal(new Error(ErrorCode.Local_Fatal, ex.Error.Reason, isFatal: true));
            }

            tracker.Failed(index, ex as ProduceException<TKey, TValue> ?? Failure(ex.Error, record, topic, ex.InnerException ?? ex));
            return true;
        }
        catch (ArgumentException ex)
        {
            tracker.Failed(index, ex);
            return true;
        }
        catch (Exception ex)
        {
            // Not one message's problem but a broken client (disposed, or failing in a way it does not report as a
            // Kafka error): this message fails with it, and the pipeline is stopped as after a fatal error.
            MarkBroken(ex);
            tracker.Failed(index, ex);
            return true;
        }
    }
}
