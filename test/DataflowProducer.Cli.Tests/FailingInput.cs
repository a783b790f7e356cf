namespace DataflowProducer.Cli.Tests;

/// <summary>A standard input that gives some bytes, then fails the next read with an <see cref="IOException"/>, as a
/// broken pipe or a disk error would.</summary>
internal sealed class FailingInput(byte[] before, string error) : Stream
{
    private int _offset;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        if (_offset == before.Length)
        {
            throw new IOException(error);
        }

        int taken = Math.Min(count, before.Length - _offset);
        Array.Copy(before, _offset, buffer, offset, taken);
        _offset += taken;
        return taken;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_offset == before.Length)
        {
            return ValueTask.FromException<int>(new IOException(error));
        }

        int taken = Math.Min(buffer.Length, before.Length - _offset);
        before.AsMemory(_offset, taken).CopyTo(buffer);
        _offset += taken;
        return ValueTask.FromResult(taken);
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
