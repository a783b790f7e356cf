using System.Globalization;
using System.Text;

namespace DataflowProducer.Cli.Input;

/// <summary>Reads records from lines of text in one of the <see cref="InputFormat"/>s. A record's value is always its
/// line's bytes exactly as read; the format only decides whether the line is well formed and what its key is.</summary>
internal sealed class TextRecordReader : RecordReader
{
    private readonly LineReader _lines;
    private readonly InputFormat _format;
    private readonly byte[] _keyFieldUtf8;
    private int _csvKeyIndex = -1;
    private int _csvFieldCount = -1;

    private TextRecordReader(LineReader lines, InputFormat format, string? keyField)
    {
        _lines = lines;
        _format = format;
        _keyFieldUtf8 = keyField is null ? [] : Encoding.UTF8.GetBytes(keyField);
    }

    /// <summary>Creates a reader; for csv, reads the header line first.</summary>
    /// <param name="lines">The input's lines; disposed with the reader.</param>
    /// <param name="format">The format.</param>
    /// <param name="keyField">The key field (jsonl, csv), or null.</param>
    /// <param name="cancellationToken">Stops waiting for the header.</param>
    /// <returns>The reader.</returns>
    /// <exception cref="InputFormatException">The csv header is malformed or lacks the key field.</exception>
    public static async Task<TextRecordReader> CreateAsync(LineReader lines, InputFormat format, string? keyField, CancellationToken cancellationToken)
    {
        var reader = new TextRecordReader(lines, format, keyField);
        if (format == InputFormat.Csv)
        {
            await reader.ReadHeaderAsync(keyField, cancellationToken).ConfigureAwait(false);
        }

        return reader;
    }

    public override async ValueTask<InputRecord?> ReadAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            byte[]? line = await _lines.ReadLineAsync(cancellationToken).ConfigureAwait(false);
            if (line is null)
            {
                return null;
            }

            long number = _lines.LineNumber;
            switch (_format)
            {
                case InputFormat.Lines:
                    return new InputRecord(number, null, line, null);

                case InputFormat.Jsonl:
                    if (IsBlank(line))
                    {
                        continue;
                    }

                    string? jsonError = JsonLineParser.TryParse(line, _keyFieldUtf8, out byte[]? jsonKey);
                    return new InputRecord(number, jsonKey, line, jsonError);

                default:
                    if (IsBlank(line))
                    {
                        continue;
                    }

                    return ParseCsv(number, line);
            }
        }
    }

    public override ValueTask DisposeAsync() => _lines.DisposeAsync();

    private static bool IsBlank(ReadOnlySpan<byte> line) => line.Trim(" \t"u8).IsEmpty;

    private InputRecord ParseCsv(long number, byte[] line)
    {
        string? error = CsvLineParser.TryParse(line, _csvKeyIndex, out byte[]? key, out int fieldCount);
        if (error is null && _csvFieldCount >= 0 && fieldCount != _csvFieldCount)
        {
            error = string.Create(CultureInfo.InvariantCulture, $"{fieldCount} field(s), but the header has {_csvFieldCount}");
        }

        return new InputRecord(number, error is null ? key : null, line, error);
    }

    private async Task ReadHeaderAsync(string? keyField, CancellationToken cancellationToken)
    {
        byte[]? header;
        do
        {
            header = await _lines.ReadLineAsync(cancellationToken).ConfigureAwait(false);
        }
        while (header is not null && IsBlank(header));

        if (header is null)
        {
            // An empty input has no records; there is nothing to check the key field against.
            return;
        }

        string? error = CsvLineParser.TryParseFields(header, out List<string> names);
        if (error is not null)
        {
            throw new InputFormatException(string.Create(CultureInfo.InvariantCulture, $"The CSV header (line {_lines.LineNumber}) is malformed: {error}."));
        }

        _csvFieldCount = names.Count;
        if (keyField is not null)
        {
            _csvKeyIndex = names.IndexOf(keyField);
            if (_csvKeyIndex < 0)
            {
                throw new InputFormatException($"The key field \"{keyField}\" is not in the CSV header ({string.Join(", ", names)}).");
            }
        }
    }
}
