using System.Text;

namespace DataflowProducer.Cli.Output;

/// <summary>A writer that replaces known secret values with <see cref="Secrets.Mask"/> before they reach the
/// underlying writer, as a last line of defense: a librdkafka error, an exception message or an echoed argument
/// cannot print a password. Text is held until a line ends (\n or \r) or the writer is flushed, so a secret
/// written in pieces is still found.</summary>
/// <remarks>A secret shorter than <see cref="MinimumFreeTextLength"/> characters is masked only where it stands
/// quoted ('ab' or "ab"), as parsers and librdkafka quote the values they echo: hunted for anywhere, it would mangle
/// ordinary words and numbers.</remarks>
internal sealed class RedactingWriter : TextWriter
{
    private const int MinimumFreeTextLength = 4;

    private readonly TextWriter _inner;
    private readonly List<(string Find, string Replacement)> _secrets = [];
    private readonly StringBuilder _pending = new();
    private readonly Lock _lock = new();

    public RedactingWriter(TextWriter inner, IEnumerable<string> secrets)
    {
        _inner = inner;
        AddSecrets(secrets);
    }

    /// <summary>Adds secrets to mask from now on (e.g. those found in a response file once it is read).</summary>
    /// <param name="secrets">The secret values.</param>
    public void AddSecrets(IEnumerable<string> secrets)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        lock (_lock)
        {
            foreach (string secret in secrets)
            {
                if (secret.Length == 0)
                {
                    continue;
                }

                if (secret.Length >= MinimumFreeTextLength)
                {
                    Add(secret, Secrets.Mask);
                }
                else
                {
                    Add($"'{secret}'", $"'{Secrets.Mask}'");
                    Add($"\"{secret}\"", $"\"{Secrets.Mask}\"");
                }
            }

            // Longest first, so a secret that contains another is masked whole.
            _secrets.Sort((a, b) => b.Find.Length.CompareTo(a.Find.Length));
        }
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

    private void Add(string find, string replacement)
    {
        if (!_secrets.Contains((find, replacement)))
        {
            _secrets.Add((find, replacement));
        }
    }

    private void FlushPending()
    {
        if (_pending.Length == 0)
        {
            return;
        }

        foreach ((string find, string replacement) in _secrets)
        {
            _pending.Replace(find, replacement);
        }

        _inner.Write(_pending.ToString());
        _pending.Clear();
    }
}
