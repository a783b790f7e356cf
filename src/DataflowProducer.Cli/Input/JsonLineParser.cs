using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace DataflowProducer.Cli.Input;

/// <summary>Checks that a line is one complete JSON value and extracts a top-level field as the key, reading the
/// UTF-8 bytes directly (no string for the value, no document tree).</summary>
internal static class JsonLineParser
{
    /// <summary>Parses a line.</summary>
    /// <param name="line">The line's UTF-8 bytes.</param>
    /// <param name="keyField">The top-level field whose value is the key (UTF-8 name), or empty for no key.</param>
    /// <param name="key">The key: a string field's unescaped text, or a number's or boolean's literal text, as
    /// UTF-8; null for no key field or a JSON null.</param>
    /// <returns>Null when the line is good, otherwise why it is malformed.</returns>
    public static string? TryParse(ReadOnlySpan<byte> line, ReadOnlySpan<byte> keyField, out byte[]? key)
    {
        key = null;

        // Utf8JsonReader does not check that the bytes of a string are UTF-8, and a key taken from them would be
        // bytes no consumer can decode; JSON text is UTF-8 (RFC 8259), so anything else is a malformed line.
        if (!Utf8.IsValid(line))
        {
            return string.Create(CultureInfo.InvariantCulture, $"not valid UTF-8 at byte {FirstInvalidUtf8Byte(line) + 1}");
        }

        bool wantKey = !keyField.IsEmpty;
        bool keyFound = false;
        var reader = new Utf8JsonReader(line, new JsonReaderOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            if (!reader.Read())
            {
                return "no JSON value";
            }

            if (wantKey && reader.TokenType != JsonTokenType.StartObject)
            {
                return $"the line is a JSON {Describe(reader.TokenType)}, not an object with the key field";
            }

            // Walk the whole value (so a broken tail is caught too), picking the key at depth 1.
            while (reader.Read())
            {
                if (wantKey && !keyFound && reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1 && reader.ValueTextEquals(keyField))
                {
                    reader.Read();
                    string? error = ReadKey(ref reader, keyField, out key);
                    if (error is not null)
                    {
                        return error;
                    }

                    keyFound = true;
                }
            }
        }
        catch (JsonException ex)
        {
            return string.Create(CultureInfo.InvariantCulture, $"invalid JSON at byte {ex.BytePositionInLine + 1}: {FirstSentence(ex.Message)}");
        }
        catch (InvalidOperationException ex)
        {
            // Unescaping the key, or a property name compared with the key field, met a \u escape that is a lone or
            // misordered surrogate: valid JSON syntax, but not Unicode text, so it cannot be a key.
            return string.Create(CultureInfo.InvariantCulture, $"a string near byte {reader.TokenStartIndex + 1} is not valid Unicode text: {ex.Message}");
        }

        if (wantKey && !keyFound)
        {
            return $"missing key field \"{Encoding.UTF8.GetString(keyField)}\"";
        }

        return null;
    }

    private static string? ReadKey(ref Utf8JsonReader reader, ReadOnlySpan<byte> keyField, out byte[]? key)
    {
        key = null;
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                key = reader.ValueIsEscaped ? Encoding.UTF8.GetBytes(reader.GetString()!) : reader.ValueSpan.ToArray();
                return null;
            case JsonTokenType.Number:
            case JsonTokenType.True:
            case JsonTokenType.False:
                key = reader.ValueSpan.ToArray();
                return null;
            case JsonTokenType.Null:
                return null;
            default:
                // An object or array: the reader still has to walk it, which the caller's loop does.
                return $"key field \"{Encoding.UTF8.GetString(keyField)}\" is a JSON {Describe(reader.TokenType)}, not a string, number or boolean";
        }
    }

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.StartObject => "object",
        JsonTokenType.StartArray => "array",
        JsonTokenType.String => "string",
        JsonTokenType.Number => "number",
        JsonTokenType.True or JsonTokenType.False => "boolean",
        JsonTokenType.Null => "null",
        _ => token.ToString().ToLowerInvariant(),
    };

    private static int FirstInvalidUtf8Byte(ReadOnlySpan<byte> line)
    {
        int position = 0;
        while (position < line.Length)
        {
            if (Rune.DecodeFromUtf8(line[position..], out _, out int consumed) != OperationStatus.Done)
            {
                return position;
            }

            position += consumed;
        }

        return position;
    }

    // Utf8JsonReader's messages end with " LineNumber: 0 | BytePositionInLine: n."; the byte is given separately.
    private static string FirstSentence(string message)
    {
        int position = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return position > 0 ? message[..position] : message;
    }
}
