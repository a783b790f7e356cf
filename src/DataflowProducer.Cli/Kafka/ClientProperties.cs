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

    /// <summary>Describes a configuration for <c>--show-config</c>, one <c>key = value</c> per line, sorted, every
    /// secret masked.</summary>
    /// <param name="config">The configuration.</param>
    /// <returns>The text.</returns>
    public static string Describe(IEnumerable<KeyValuePair<string, string>> config)
    {
        var text = new StringBuilder("Producer configuration:");
        foreach ((string key, string value) in config.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            text.AppendLine().Append("  ").Append(key).Append(" = ").Append(Secrets.Display(key, value));
        }

        return text.ToString();
    }
}
