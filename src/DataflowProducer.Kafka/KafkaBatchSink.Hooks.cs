using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;

namespace DataflowProducer.Kafka;

// What the sink tells the pipeline beyond batches: Kafka's telemetry attributes (OpenTelemetry messaging conventions),
// the poster's trace context, Kafka's error codes as error.type, and whether the pipeline owns it.
public sealed partial class KafkaBatchSink<TKey, TValue> : IBatchSinkHooks<KafkaRecord<TKey, TValue>>
{
    private KeyValuePair<string, object?>[]? _telemetryTags;
    private KeyValuePair<string, object?>[]? _defaultTopicTags;
    private BatchSinkSignals? _signals;  // the pipeline's, once attached

    /// <inheritdoc />
    /// <remarks><c>messaging.system</c> is <c>kafka</c>; <c>messaging.client.id</c> is the client's name (for example
    /// <c>rdkafka#producer-1</c>); for a sink built from a <see cref="ProducerConfig"/> whose <c>bootstrap.servers</c>
    /// names a single server, <c>server.address</c> and <c>server.port</c> are it. The destination is not among them: it
    /// holds per batch (see <see cref="IBatchSinkHooks{T}.GetBatchTags"/>).</remarks>
    IReadOnlyList<KeyValuePair<string, object?>> IBatchSinkHooks<KafkaRecord<TKey, TValue>>.TelemetryTags =>
        _telemetryTags ??= BuildTelemetryTags();

    /// <inheritdoc />
    /// <remarks>True only for a sink <see cref="KafkaProducerBlock"/> built for its block.</remarks>
    bool IBatchSinkHooks<KafkaRecord<TKey, TValue>>.DisposeWhenFinished => DisposeWithPipeline;

    /// <inheritdoc />
    /// <remarks>Key + value + headers as they sit in memory, in constant time: a <c>byte[]</c> its length, a
    /// <c>string</c> two bytes a character, a value type without references its size, null nothing, a header its key
    /// (two bytes a character) and its value's length. Null for other key or value types, which cannot be measured
    /// without serializing: set <see cref="BatchProducerOptions.ItemSize"/> for those.</remarks>
    Func<KafkaRecord<TKey, TValue>, long>? IBatchSinkHooks<KafkaRecord<TKey, TValue>>.ItemSize => Internal.KafkaRecordSize<TKey, TValue>.For;

    /// <inheritdoc />
    /// <remarks>The sink reports each record that had to wait for room in the client's queue (<c>Local_QueueFull</c>)
    /// once, however many retries the wait takes.</remarks>
    void IBatchSinkHooks<KafkaRecord<TKey, TValue>>.Attach(BatchSinkSignals signals) => Volatile.Write(ref _signals, signals);

    // Set by KafkaProducerBlock.Create for a sink it built: the pipeline disposes it, and with it the producer.
    internal bool DisposeWithPipeline { get; init; }

    // Set by KafkaProducerBlock.Create when its block emits outcomes: delivered messages then carry receipts, as with
    // KafkaSinkOptions.DeliveryReceipts. Off, nothing is allocated for them.
    internal bool ReceiptsForOutcomes { get; init; }

    /// <inheritdoc />
    /// <remarks>Records the trace context of the activity current when the record is posted (this runs on the poster's
    /// thread, so <see cref="Activity.Current"/> is the poster's); the batch's span links to it. With
    /// <see cref="KafkaSinkOptions{TKey, TValue}.InjectTraceContext"/>, also writes it into the record's headers through
    /// <see cref="DistributedContextPropagator.Current"/> (W3C <c>traceparent</c>, <c>tracestate</c> when set,
    /// <c>baggage</c> when the activity carries baggage): the poster's context, not the send span's, so a consumer
    /// continues the trace the record was created in.</remarks>
    void IBatchSinkHooks<KafkaRecord<TKey, TValue>>.OnOffered(KafkaRecord<TKey, TValue> item)
    {
        if (item is null)
        {
            return;
        }

        if (Activity.Current is not { } activity)
        {
            // A record posted again, now outside any trace, must not link to the trace of its earlier posting.
            item.OfferedContext = default;
            return;
        }

        item.OfferedContext = activity.Context;
        if (!_options.InjectTraceContext)
        {
            return;
        }

        DistributedContextPropagator.Current.Inject(activity, item, static (carrier, name, value) =>
        {
            var target = (KafkaRecord<TKey, TValue>)carrier!;
            target.Headers ??= [];
            target.Headers.Remove(name);
            target.Headers.Add(name, Encoding.UTF8.GetBytes(value));
        });
    }

    /// <inheritdoc />
    /// <remarks><c>messaging.destination.name</c> when every record of the batch goes to one topic (its own or the
    /// default topic); <c>messaging.destination.partition.id</c> as well when every record names the same partition.
    /// A record the partitioner places has no partition yet when the batch starts.</remarks>
    IReadOnlyList<KeyValuePair<string, object?>> IBatchSinkHooks<KafkaRecord<TKey, TValue>>.GetBatchTags(IReadOnlyList<KafkaRecord<TKey, TValue>> batch)
    {
        if (batch.Count == 0 || (batch[0]?.Topic ?? _options.DefaultTopic) is not { } topic)
        {
            return [];
        }

        Partition? partition = batch[0]?.Partition;
        for (int i = 0; i < batch.Count; i++)
        {
            KafkaRecord<TKey, TValue>? record = batch[i];
            if (record is null || (record.Topic ?? _options.DefaultTopic) != topic)
            {
                return [];
            }

            if (partition is { } p && record.Partition != p)
            {
                partition = null;
            }
        }

        if (partition is { IsSpecial: false } single)
        {
            return [new("messaging.destination.name", topic), new("messaging.destination.partition.id", single.Value.ToString(CultureInfo.InvariantCulture))];
        }

        if (ReferenceEquals(topic, _options.DefaultTopic))
        {
            return _defaultTopicTags ??= [new("messaging.destination.name", topic)];
        }

        return [new("messaging.destination.name", topic)];
    }

    /// <inheritdoc />
    ActivityContext IBatchSinkHooks<KafkaRecord<TKey, TValue>>.GetOfferedContext(KafkaRecord<TKey, TValue> item) => item?.OfferedContext ?? default;

    /// <inheritdoc />
    /// <remarks>For a Kafka error (a <see cref="KafkaException"/>, <see cref="ProduceException{TKey, TValue}"/>
    /// included), the name of its <see cref="ErrorCode"/>: <c>Local_MsgTimedOut</c>, <c>MsgSizeTooLarge</c>,
    /// <c>TopicAuthorizationFailed</c>, …; any other error gets the exception's full type name.</remarks>
    string? IBatchSinkHooks<KafkaRecord<TKey, TValue>>.GetErrorType(Exception exception) =>
        exception is KafkaException kafka ? kafka.Error.Code.ToString() : null;

    // The server, when bootstrap.servers names exactly one ("host:port", "[v6]:port", with or without a "scheme://"):
    // with several, none of them is the one the client talks to.
    internal static (string Address, int? Port)? SingleServer(string? bootstrapServers)
    {
        if (string.IsNullOrWhiteSpace(bootstrapServers) || bootstrapServers.Contains(',', StringComparison.Ordinal))
        {
            return null;
        }

        string server = bootstrapServers.Trim();
        int scheme = server.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            server = server[(scheme + 3)..];
        }

        int colon = server.LastIndexOf(':');
        bool bracketed = server.StartsWith('[');
        if (colon < 0 || (bracketed && colon < server.IndexOf(']', StringComparison.Ordinal)) || (!bracketed && server.IndexOf(':', StringComparison.Ordinal) != colon))
        {
            // No port (or a bare IPv6 address): the address alone.
            return server.Length == 0 ? null : (server.Trim('[', ']'), null);
        }

        string host = server[..colon].Trim('[', ']');
        if (host.Length == 0)
        {
            return null;
        }

        return int.TryParse(server[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port) ? (host, port) : (host, null);
    }

    private KeyValuePair<string, object?>[] BuildTelemetryTags()
    {
        var tags = new List<KeyValuePair<string, object?>> { new("messaging.system", "kafka") };
        string? clientId = null;
        try
        {
            clientId = _mode.Client.Name;
        }
        catch (Exception)
        {
            // A client that cannot say its name (disposed, or a substitute): measured without it.
        }

        if (!string.IsNullOrEmpty(clientId))
        {
            tags.Add(new("messaging.client.id", clientId));
        }

        if (_server is { } server)
        {
            tags.Add(new("server.address", server.Address));
            if (server.Port is { } port)
            {
                tags.Add(new("server.port", port));
            }
        }

        return [.. tags];
    }
}
