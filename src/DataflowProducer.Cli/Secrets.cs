namespace DataflowProducer.Cli;

/// <summary>Which Kafka settings are secrets, and how they are shown: never by value.</summary>
internal static class Secrets
{
    /// <summary>What is printed instead of a secret value.</summary>
    public const string Mask = "[redacted]";

    // Substrings of librdkafka (and Java client) setting names whose values are credentials or private keys:
    // sasl.password, ssl.key.password, ssl.keystore.password, ssl.key.pem, ssl.key.location's pass phrase,
    // sasl.oauthbearer.client.secret, sasl.oauthbearer.config, sasl.jaas.config, ...
    private static readonly string[] SecretKeyParts =
    [
        "password",
        "secret",
        "sasl.oauthbearer.config",
        "sasl.jaas.config",
        "ssl.key",
        "credential",
        "token",
        "private",
    ];

    // Values shorter than this are not hunted for in free text (they would mangle ordinary words and numbers);
    // the places that print settings mask secret values by key whatever their length.
    private const int MinimumRedactedLength = 4;

    /// <summary>Tells whether a setting's value is a secret.</summary>
    /// <param name="key">The setting's name, e.g. <c>sasl.password</c>.</param>
    /// <returns>True when its value must never be printed.</returns>
    public static bool IsSecretKey(string key) =>
        SecretKeyParts.Any(part => key.Replace('_', '.').Contains(part, StringComparison.OrdinalIgnoreCase));

    /// <summary>Shows a setting's value, masked when it is a secret.</summary>
    /// <param name="key">The setting's name.</param>
    /// <param name="value">Its value.</param>
    /// <returns>The value, or <see cref="Mask"/>.</returns>
    public static string Display(string key, string? value) => IsSecretKey(key) ? Mask : value ?? string.Empty;

    /// <summary>Finds the secret values in raw command-line arguments, before they are parsed, so that even an
    /// error message that echoes an argument cannot show one.</summary>
    /// <param name="args">The arguments.</param>
    /// <returns>The values of every <c>key=value</c> argument whose key is a secret.</returns>
    public static IEnumerable<string> FindSecretValues(IEnumerable<string> args)
    {
        foreach (string arg in args)
        {
            string text = arg.StartsWith("-X", StringComparison.Ordinal) ? arg[2..] : arg;
            int equals = text.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0 && IsSecretKey(text[..equals]) && text.Length - equals - 1 >= MinimumRedactedLength)
            {
                yield return text[(equals + 1)..];
            }
        }
    }
}
