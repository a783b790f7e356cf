using System.Text;

namespace DataflowProducer.Cli.Output;

/// <summary>A writer that replaces known secret values with <see cref="Secrets.Mask"/> before they reach the
/// underlying writer, as a last line of defense: a librdkafka error, an exception message or an echoed argument
/// cannot print a password. Text is held until a line ends (\n or \r) or the writer is flushed, so a secret
/// written in pieces is still found.</summary>
internal sealed class RedactingWriter : TextWriter
{
    private readonly TextWriter _inner;
    private readonly string[] _secrets;
    private readonly StringBuilder _pending = new();
    private readonly Lock _lock = new();

    public RedactingWriter(TextWriter inner, IEnumerable<string> secrets)
    {
        _inner = inner;
        _secrets = [.. secrets.Where(s => s.Length > 0).Distinct(StringComparer.Ordinal).OrderByDescending(s => s.Length)];
    }

    public override Encoding Encoding => _inner.Encoding;

    public override void Write(char value)
    {
        lock (_lock)
        {
            _pending.Append(value);
            if (value is '\n' or '\r')
            {
                FlushPending();
            }
        }
    }

    public override void Write(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return;
        }

        lock (_lock)
        {
            _pending.Append(value);
            if (value.AsSpan().IndexOfAny('\n', '\r') >= 0)
            {
                FlushPending();
            }
        }
    }

    public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));

    public override void WriteLine(string? value) => Write(value + NewLine);

    public override void Flush()
    {
        lock (_lock)
        {
            FlushPending();
            _inner.Flush();
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Flush();
        }

        base.Dispose(disposing);
    }

    private void FlushPending()
    {
        if (_pending.Length == 0)
        {
            return;
        }

        foreach (string secret in _secrets)
        {
            _pending.Replace(secret, Secrets.Mask);
        }

        _inner.Write(_pending.ToString());
        _pending.Clear();
    }
}
