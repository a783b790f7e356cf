using System.Text;
using System.Threading.Channels;

namespace DataflowProducer.Cli.Tests;

/// <summary>A standard input that the test feeds line by line and never ends by itself, like a terminal or a slow
/// pipe; reads ignore cancellation, as the console's do. <see cref="AllReadAsync"/> tells when the tool has read
/// every line written so far, so a test waits for that, not for a time.</summary>
internal sealed class BlockingInput : Stream
{
    private readonly Channel<byte[]> _chunks = Channel.CreateUnbounded<byte[]>();
    private readonly Lock _lock = new();
    private byte[] _current = [];
    private int _offset;

    // Guarded by _lock: lines written and not yet taken by a read; whether a read waits for more; who waits for that.
    private int _pending;
    private bool _readWaiting;
    private TaskCompletionSource? _allRead;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public void WriteLine(string line)
    {
        lock (_lock)
        {
            _pending++;
            _readWaiting = false;
        }

        _chunks.Writer.TryWrite(Encoding.UTF8.GetBytes(line + "\n"));
    }

    /// <summary>Completes when every line written so far has been read and the next read waits for more. The tool's
    /// line reader asks for more bytes only once it has handed out every whole line it holds, and its single reader
    /// loop asks for the next record only once the pipeline took the last one: so then every line written so far was
    /// read and accepted.</summary>
    public Task AllReadAsync()
    {
        lock (_lock)
        {
            if (_pending == 0 && _readWaiting)
            {
                return Task.CompletedTask;
            }

            _allRead ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _allRead.Task;
        }
    }

    public void End() => _chunks.Writer.TryComplete();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_offset == _current.Length)
        {
            lock (_lock)
            {
                if (_pending == 0)
                {
                    _readWaiting = true;
                    _allRead?.TrySetResult();
                    _allRead = null;
                }
            }

            if (!await _chunks.Reader.WaitToReadAsync(CancellationToken.None))
            {
                return 0;
            }

            _current = await _chunks.Reader.ReadAsync(CancellationToken.None);
            _offset = 0;
            lock (_lock)
            {
                _pending--;
                _readWaiting = false;
            }
        }

        int count = Math.Min(buffer.Length, _current.Length - _offset);
        _current.AsMemory(_offset, count).CopyTo(buffer);
        _offset += count;
        return count;
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
