using System.Globalization;
using System.Text;

namespace DataflowProducer.Cli.Input;

/// <summary>Parses one CSV line (RFC 4180): fields separated by commas; a field that contains a comma or a quote is
/// enclosed in double quotes, with a quote inside written as two. A quoted field that spans lines is not supported:
/// its first line is reported malformed (unterminated quoted field), and so is each following line that does not
/// parse on its own.</summary>
internal static class CsvLineParser
{
    /// <summary>Parses a line into its fields, as text (for the header).</summary>
    /// <param name="line">The line's UTF-8 bytes.</param>
    /// <param name="fields">The unquoted fields.</param>
    /// <returns>Null when the line is good, otherwise why it is malformed.</returns>
    public static string? TryParseFields(ReadOnlySpan<byte> line, out List<string> fields)
    {
        var collected = new List<string>();
        string? error = Parse(line, wantedField: -1, out _, out _, field => collected.Add(Encoding.UTF8.GetString(field)));
        fields = collected;
        return error;
    }

    /// <summary>Checks a line and extracts one field.</summary>
    /// <param name="line">The line's UTF-8 bytes.</param>
    /// <param name="wantedField">The 0-based index of the field to extract, or -1 for none.</param>
    /// <param name="field">The unquoted field's bytes, or null when <paramref name="wantedField"/> is -1 or beyond the line.</param>
    /// <param name="fieldCount">How many fields the line has.</param>
    /// <returns>Null when the line parses, otherwise why it is malformed.</returns>
    public static string? TryParse(ReadOnlySpan<byte> line, int wantedField, out byte[]? field, out int fieldCount) =>
        Parse(line, wantedField, out field, out fieldCount, onField: null);

    private static string? Parse(ReadOnlySpan<byte> line, int wantedField, out byte[]? wanted, out int fieldCount, Action<byte[]>? onField)
    {
        wanted = null;
        fieldCount = 0;
        int position = 0;
        while (true)
        {
            // Here position is at the start of a field. After it, position is at a comma or at the end.
            byte[]? value = null;
            bool keep = fieldCount == wantedField || onField is not null;
            if (position < line.Length && line[position] == (byte)'"')
            {
                position++;
                var unquoted = keep ? new List<byte>() : null;
                while (true)
                {
                    int quote = line[position..].IndexOf((byte)'"');
                    if (quote < 0)
                    {
                        return string.Create(CultureInfo.InvariantCulture, $"unterminated quoted field {fieldCount + 1} (a quoted field spanning lines is not supported)");
                    }

                    unquoted?.AddRange(line.Slice(position, quote));
                    position += quote + 1;
                    if (position < line.Length && line[position] == (byte)'"')
                    {
                        unquoted?.Add((byte)'"');
                        position++;
                        continue;
                    }

                    break;
                }

                if (position < line.Length && line[position] != (byte)',')
                {
                    return string.Create(CultureInfo.InvariantCulture, $"unexpected character after the closing quote of field {fieldCount + 1}");
                }

                value = unquoted?.ToArray();
            }
            else
            {
                int comma = line[position..].IndexOf((byte)',');
                int end = comma < 0 ? line.Length : position + comma;
                ReadOnlySpan<byte> text = line[position..end];
                if (text.Contains((byte)'"'))
                {
                    return string.Create(CultureInfo.InvariantCulture, $"a quote inside unquoted field {fieldCount + 1} (quote the field and double the quote)");
                }

                value = keep ? text.ToArray() : null;
                position = end;
            }

            if (fieldCount == wantedField)
            {
                wanted = value;
            }

            if (onField is not null)
            {
                onField(value!);
            }

            fieldCount++;
            if (position >= line.Length)
            {
                return null;
            }

            position++;
        }
    }
}
