namespace DataflowProducer.Cli;

/// <summary>Which Kafka settings are secrets, and how they are shown: never by value.</summary>
/// <remarks>A key counts as secret when it merely looks like one: it contains a word such as <c>pass</c>,
/// <c>pwd</c>, <c>secret</c>, <c>token</c> or <c>key</c>, or it is one or two typing mistakes away from a known secret
/// setting (<c>sasl.pasword</c>). Masking a value too many costs a line of <c>--show-config</c>; a password printed
/// because a letter was missing costs the password.</remarks>
internal static class Secrets
{
    /// <summary>What is printed instead of a secret value.</summary>
    public const string Mask = "[redacted]";

    // librdkafka's (and the Java client's, and the schema registry's) settings whose values are credentials or
    // private keys: the targets a mistyped key is compared with.
    private static readonly string[] KnownSecretKeys =
    [
        "sasl.password",
        "ssl.key.password",
        "ssl.keystore.password",
        "ssl.truststore.password",
        "ssl.key.pem",
        "sasl.oauthbearer.client.secret",
        "sasl.oauthbearer.config",
        "sasl.jaas.config",
        "basic.auth.user.info",
    ];

    // Parts of a (normalized) key that make it look secret wherever they are. "key" covers ssl.key.*, keystores,
    // keytabs and API keys; the paths some of those hold are masked too, which is the cheap side of the trade.
    private static readonly string[] SecretWords =
    [
        "pass",
        "pwd",
        "secret",
        "token",
        "key",
        "credential",
        "private",
        "jaas",
        "oauthbearer.config",
        "user.info",
        "userinfo",
    ];

    // Dot-separated parts that are secret words only on their own (as a substring they are too common).
    private static readonly string[] SecretSegments = ["pw", "auth.info"];

    private const int MaxTypoDistance = 2;

    /// <summary>Tells whether a setting's value is a secret, or looks like one.</summary>
    /// <param name="key">The setting's name, e.g. <c>sasl.password</c>, as typed.</param>
    /// <returns>True when its value must never be printed.</returns>
    public static bool IsSecretKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        string normalized = key.Trim().ToLowerInvariant().Replace('_', '.').Replace('-', '.');
        return SecretWords.Any(word => normalized.Contains(word, StringComparison.Ordinal))
            || normalized.Split('.').Any(segment => SecretSegments.Contains(segment, StringComparer.Ordinal))
            || KnownSecretKeys.Any(known => TypoDistance(normalized, known) <= MaxTypoDistance);
    }

    /// <summary>Shows a setting's value, masked when it is a secret.</summary>
    /// <param name="key">The setting's name.</param>
    /// <param name="value">Its value.</param>
    /// <returns>The value, or <see cref="Mask"/>.</returns>
    public static string Display(string key, string? value) => IsSecretKey(key) ? Mask : value ?? string.Empty;

    /// <summary>Finds the secret values in command-line arguments, before they are parsed, so that even an error
    /// message that echoes an argument cannot show one.</summary>
    /// <remarks>Besides <c>key=value</c> in any form the parser takes (<c>-X k=v</c>, <c>-Xk=v</c>, <c>-X=k=v</c>,
    /// <c>-X:k=v</c>, <c>--property k=v</c>, <c>--property=k=v</c>), a secret key given to <c>-X</c> without a value
    /// (<c>-X sasl.password hunter2</c>, <c>-X sasl.password= hunter2</c>) makes the next argument a secret: that is
    /// the value typed in the wrong place, and the parser would echo it as an unrecognized argument. An argument that
    /// starts with '-' is taken for an option, not a value.</remarks>
    /// <param name="args">The arguments (or the parser's tokens, which include response files).</param>
    /// <returns>The secret values, of any length.</returns>
    public static IEnumerable<string> FindSecretValues(IEnumerable<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        bool settingExpected = false;
        bool valueExpected = false;
        foreach (string arg in args)
        {
            if (valueExpected && !arg.StartsWith('-') && arg.Length > 0)
            {
                valueExpected = false;
                yield return arg;
                continue;
            }

            valueExpected = false;
            if (arg is "-X" or "--property")
            {
                settingExpected = true;
                continue;
            }

            bool isSetting = settingExpected;
            settingExpected = false;
            string text = arg;
            foreach (string prefix in (string[])["--property=", "--property:", "-X=", "-X:", "-X"])
            {
                if (arg.StartsWith(prefix, StringComparison.Ordinal))
                {
                    text = arg[prefix.Length..];
                    isSetting = true;
                    break;
                }
            }

            int equals = text.IndexOf('=', StringComparison.Ordinal);
            string key = equals < 0 ? text : text[..equals];
            if (key.Length == 0 || !IsSecretKey(key))
            {
                continue;
            }

            string value = equals < 0 ? string.Empty : text[(equals + 1)..];
            if (value.Length > 0)
            {
                yield return value;
            }
            else if (isSetting)
            {
                valueExpected = true;
            }
        }
    }

    // The optimal string alignment distance (insertions, deletions, substitutions, and swaps of neighbours), or
    // more than the limit as soon as it is clear the strings are further apart.
    private static int TypoDistance(string a, string b)
    {
        if (Math.Abs(a.Length - b.Length) > MaxTypoDistance)
        {
            return MaxTypoDistance + 1;
        }

        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (int j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}
