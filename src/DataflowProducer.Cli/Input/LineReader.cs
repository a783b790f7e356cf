namespace DataflowProducer.Cli.Input;

/// <summary>Splits a byte stream into lines without decoding it: a line's bytes are exactly what was read, without
/// the terminator (\n, or \r\n: a \r just before the \n or at the end of the input is dropped). A UTF-8 byte order
/// mark at the very start is not part of the first line. The last line needs no terminator.</summary>
internal sealed class LineReader : IAsyncDisposable
{
    private const int InitialBufferSize = 64 * 1024;
    private static readonly byte[] Utf8Bom = [0xEF, 0xBB, 0xBF];

    private readonly Stream _stream;
    private readonly bool _readsMayIgnoreCancellation;
    private byte[] _buffer = new byte[InitialBufferSize];
    private int _start;
    private int _end;
    private bool _endOfStream;
    private bool _atStart = true;

    /// <param name="stream">The input; disposed with the reader.</param>
    /// <param name="readsMayIgnoreCancellation">True for streams (standard input, pipes) whose reads do not observe
    /// cancellation: a pending read is then left behind when canceled, so a stop request never waits for input.</param>
    public LineReader(Stream stream, bool readsMayIgnoreCancellation)
    {
        _stream = stream;
        _readsMayIgnoreCancellation = readsMayIgnoreCancellation;
    }

    /// <summary>Gets the number of lines returned so far: the line number of the last one.</summary>
    public long LineNumber { get; private set; }

    /// <summary>Reads the next line.</summary>
    /// <param name="cancellationToken">Stops waiting for input.</param>
    /// <returns>The line's bytes, or null at the end of the input.</returns>
    /// <exception cref="OperationCanceledException">Canceled; the reader must not be used afterwards.</exception>
    public async ValueTask<byte[]?> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            int newline = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                byte[] line = TakeLine(_start, newline);
                _start += newline + 1;
                return line;
            }

            if (_endOfStream)
            {
                if (_start == _end)
                {
                    return null;
                }

                byte[] last = TakeLine(_start, _end - _start);
                _start = _end;
                return last;
            }

            await FillAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public ValueTask DisposeAsync() => _stream.DisposeAsync();

    private byte[] TakeLine(int start, int length)
    {
        if (_atStart)
        {
            _atStart = false;
            if (_buffer.AsSpan(start, length).StartsWith(Utf8Bom))
            {
                start += Utf8Bom.Length;
                length -= Utf8Bom.Length;
            }
        }

        if (length > 0 && _buffer[start + length - 1] == (byte)'\r')
        {
            length--;
        }

        LineNumber++;
        return _buffer.AsSpan(start, length).ToArray();
    }

    private async ValueTask FillAsync(CancellationToken cancellationToken)
    {
        // Keep the unfinished line at the front; grow when it fills the whole buffer.
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            Array.Resize(ref _buffer, _buffer.Length * 2);
        }

        Memory<byte> free = _buffer.AsMemory(_end);
        int read = _readsMayIgnoreCancellation
            ? await _stream.ReadAsync(free, cancellationToken).AsTask().WaitAsync(cancellationToken).ConfigureAwait(false)
            : await _stream.ReadAsync(free, cancellationToken).ConfigureAwait(false);
        if (read == 0)
        {
            _endOfStream = true;
        }

        _end += read;
    }
}
