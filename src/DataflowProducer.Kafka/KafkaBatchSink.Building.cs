using System.Text.RegularExpressions;
using Confluent.Kafka;
using DataflowProducer.Kafka.Diagnostics;
using DataflowProducer.Kafka.Internal;

namespace DataflowProducer.Kafka;

// Building the producer the sink owns: the configuration it is given plus defaults, the client's handlers, the
// serializers, and an error that names the setting the client rejected.
public sealed partial class KafkaBatchSink<TKey, TValue>
{
    // An unknown property name that makes the client reject a configuration before it starts anything.
    private const string ProbeSentinel = "dataflowproducer.probe.sentinel";

    // Internal for tests: what the sink makes of a configuration before it builds its producer.
    internal static ProducerConfig WithDefaults(ProducerConfig config)
    {
        var copy = new ProducerConfig(config.ToDictionary(static kv => kv.Key, static kv => kv.Value));
        if (copy.EnableIdempotence is null && !TargetsPreIdempotenceBroker(copy))
        {
            copy.EnableIdempotence = true;
        }

        return copy;
    }

    // Idempotence needs InitProducerId (Kafka 0.11+). A configuration that disables version discovery and falls back
    // to an older protocol would make the producer fail at start, so it is left as the user configured it.
    private static bool TargetsPreIdempotenceBroker(ProducerConfig config)
    {
        if (config.ApiVersionRequest != false || config.BrokerVersionFallback is not { } fallback)
        {
            return false;
        }

        return Version.TryParse(fallback, out Version? version) && version < new Version(0, 11);
    }

    private static SyncSerializerAdapter<T> AsAsync<T>(ISerializer<T> serializer) => new SyncSerializerAdapter<T>(serializer);

    // Confluent rejects an unknown property with InvalidOperationException and a bad value with ArgumentException,
    // before it starts anything; both are bad configuration, so both surface as ArgumentException naming the key.
    private static IProducer<TK, TV> Build<TK, TV>(ProducerBuilder<TK, TV> builder, ProducerConfig config)
    {
        try
        {
            return builder.Build();
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            throw ConfigurationRejected(config, ex);
        }
    }

    // The client names a setting by its own canonical name (request.required.acks for acks), so the message alone may
    // name a key the user never wrote. Each key is tried alone, followed by an unknown sentinel property: the client
    // stops at the first property it rejects, before it creates anything, so a probe never starts a client, and the
    // key whose probe fails on the key itself is the one to name. The client's own message may quote the value it
    // rejected (settings it validates, such as acks, are not secrets; the CLI redacts secret values from its output).
    private static ArgumentException ConfigurationRejected(ProducerConfig config, Exception error)
    {
        foreach (KeyValuePair<string, string> setting in config)
        {
            string? reason = null;
            try
            {
                using IProducer<Null, Null> probe = new ProducerBuilder<Null, Null>([setting, new(ProbeSentinel, string.Empty)]).Build();
            }
            catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or KafkaException)
            {
                if (!ex.Message.Contains(ProbeSentinel, StringComparison.Ordinal))
                {
                    reason = ex.Message;
                }
            }

            if (reason is not null)
            {
                string named = PropertyNamePattern().Replace(reason, $"property$1\"{setting.Key}\"", 1);
                return new ArgumentException($"The producer configuration's setting '{setting.Key}' was rejected: {named}", nameof(config), error);
            }
        }

        return new ArgumentException($"The producer configuration was rejected: {error.Message}", nameof(config), error);
    }

    [GeneratedRegex("property(:? )\"[^\"]*\"", RegexOptions.CultureInvariant)]
    private static partial Regex PropertyNamePattern();

    private ProducerBuilder<TK, TV> Configure<TK, TV>(ProducerBuilder<TK, TV> builder) =>
        builder
            .SetErrorHandler((_, error) => OnClientError(error))
            .SetLogHandler((_, message) => Log.ClientLog(_logger, message.Facility, message.Message));
}
