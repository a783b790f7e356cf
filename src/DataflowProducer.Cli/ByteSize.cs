using System.Globalization;

namespace DataflowProducer.Cli;

/// <summary>A number of bytes as a user writes it: plain (<c>67108864</c>) or with a binary suffix K, M or G
/// (<c>64M</c> = 64 × 1024 × 1024; an optional trailing B and any case: <c>64mb</c>), or -1 for off.</summary>
internal static class ByteSize
{
    /// <summary>Parses a size; null with a reason when the text is not one.</summary>
    /// <param name="text">The text.</param>
    /// <param name="value">The bytes, or -1.</param>
    /// <returns>Null when parsed, else why not.</returns>
    public static string? TryParse(string text, out long value)
    {
        value = 0;
        string s = text.Trim();
        if (s == "-1")
        {
            value = -1;
            return null;
        }

        if (s.EndsWith('b') || s.EndsWith('B'))
        {
            s = s[..^1];
        }

        long unit = 1;
        if (s.Length > 0 && char.ToUpperInvariant(s[^1]) is 'K' or 'M' or 'G' && s.Length > 1)
        {
            unit = char.ToUpperInvariant(s[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, _ => 1L << 30 };
            s = s[..^1];
        }

        if (!long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long number) || number < 1 || number > long.MaxValue / unit)
        {
            return $"'{text}' is not a size: a whole number of bytes, at least 1, optionally with K, M or G (64M), or -1 for off";
        }

        value = number * unit;
        return null;
    }
}
