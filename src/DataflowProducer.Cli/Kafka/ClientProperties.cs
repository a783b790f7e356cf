using System.Text;
using Confluent.Kafka;

namespace DataflowProducer.Cli.Kafka;

/// <summary>The <c>-X key=value</c> settings, passed to librdkafka as they are (as kcat does).</summary>
internal sealed class ClientProperties
{
    private readonly List<KeyValuePair<string, string>> _pairs;

    private ClientProperties(List<KeyValuePair<string, string>> pairs) => _pairs = pairs;

    /// <summary>Gets the settings, in command-line order (a later one overrides an earlier one with the same key).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Pairs => _pairs;

    /// <summary>Parses the <c>-X</c> arguments.</summary>
    /// <param name="arguments">Each <c>key=value</c>.</param>
    /// <param name="properties">The settings.</param>
    /// <returns>Null when every argument is well formed, otherwise the error (secret values are never in it).</returns>
    public static string? TryParse(IEnumerable<string> arguments, out ClientProperties properties)
    {
        var pairs = new List<KeyValuePair<string, string>>();
        properties = new ClientProperties(pairs);
        foreach (string argument in arguments)
        {
            int equals = argument.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                // No '=': the argument may hold a secret typed in the wrong place (-X sasl.password:hunter2), so it is
                // echoed only when it is a bare setting name that does not look secret.
                return equals == 0
                    ? "-X needs key=value, but the key is empty."
                    : $"-X needs key=value, but got an argument without '=' (-X {(IsBareKey(argument) && !Secrets.IsSecretKey(argument) ? argument : "…")}).";
            }

            pairs.Add(new KeyValuePair<string, string>(argument[..equals].Trim(), argument[(equals + 1)..]));
        }

        return null;
    }

    private static bool IsBareKey(string argument) =>
        argument.Length is > 0 and <= 64 && argument.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    /// <summary>Builds the producer configuration: the bootstrap servers, then the <c>-X</c> settings on top.</summary>
    /// <param name="bootstrapServers">The brokers.</param>
    /// <returns>The configuration.</returns>
    public ProducerConfig ToProducerConfig(string bootstrapServers)
    {
        var config = new ProducerConfig { BootstrapServers = bootstrapServers };
        foreach ((string key, string value) in _pairs)
        {
            config.Set(key, value);
        }

        return config;
    }

    /// <summary>Builds the configuration of the client that reads the topic back for <c>--verify</c>: the same
    /// connection and security settings (producer-only ones are ignored by librdkafka).</summary>
    /// <param name="bootstrapServers">The brokers.</param>
    /// <returns>The configuration.</returns>
    public ClientConfig ToClientConfig(string bootstrapServers)
    {
        var config = new ClientConfig { BootstrapServers = bootstrapServers };
        foreach ((string key, string value) in _pairs)
        {
            config.Set(key, value);
        }

        return config;
    }

    /// <summary>Builds the configuration of <c>copy</c>'s consumer: the bootstrap servers and the tool's defaults for
    /// a copy (read a group's topic from its beginning when the group has no commit; commit stored offsets every
    /// second), then the <c>-X</c> settings on top, then the group (<c>--group</c> wins over <c>-X group.id</c>).</summary>
    /// <param name="bootstrapServers">The brokers.</param>
    /// <param name="groupId">The consumer group.</param>
    /// <returns>The configuration.</returns>
    public ConsumerConfig ToConsumerConfig(string bootstrapServers, string groupId)
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = bootstrapServers,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            AutoCommitIntervalMs = CopyAutoCommitIntervalMs,
        };
        foreach ((string key, string value) in _pairs)
        {
            config.Set(key, value);
        }

        config.GroupId = groupId;
        return config;
    }

    /// <summary><c>copy</c>'s default <c>auto.commit.interval.ms</c>: how long a delivered record's offset may wait
    /// to be committed, and so how much a kill may duplicate beyond what was in flight (librdkafka's own default is
    /// 5000).</summary>
    public const int CopyAutoCommitIntervalMs = 1000;

    /// <summary>Describes a configuration for <c>--show-config</c>, one <c>key = value</c> per line, sorted, every
    /// secret masked.</summary>
    /// <param name="config">The configuration.</param>
    /// <param name="title">The heading.</param>
    /// <returns>The text.</returns>
    public static string Describe(IEnumerable<KeyValuePair<string, string>> config, string title = "Producer configuration")
    {
        var text = new StringBuilder(title).Append(':');
        foreach ((string key, string value) in config.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            text.AppendLine().Append("  ").Append(key).Append(" = ").Append(Secrets.Display(key, value));
        }

        return text.ToString();
    }
}
