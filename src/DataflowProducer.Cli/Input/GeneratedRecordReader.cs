using System.Buffers.Text;

namespace DataflowProducer.Cli.Input;

/// <summary>Synthetic records for <c>--generate N</c>: record i (1 to N) is its sequence number as 12 zero-padded
/// digits, a space, then letters up to <c>--size</c> bytes, e.g. <c>000000000001 abcdefgh…</c>. No key.</summary>
internal sealed class GeneratedRecordReader : RecordReader
{
    /// <summary>The shortest record: the 12 digits and the space.</summary>
    public const int MinimumSize = 13;

    private const int Digits = 12;
    private static readonly byte[] Filler = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"u8.ToArray();

    private readonly long _count;
    private readonly byte[] _template;
    private long _next = 1;

    /// <param name="count">How many records.</param>
    /// <param name="size">Each record's size in bytes; at least <see cref="MinimumSize"/>.</param>
    public GeneratedRecordReader(long count, int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(size, MinimumSize);
        _count = count;
        _template = new byte[size];
        _template[Digits] = (byte)' ';
        for (int i = Digits + 1; i < size; i++)
        {
            _template[i] = Filler[(i - Digits - 1) % Filler.Length];
        }
    }

    public override ValueTask<InputRecord?> ReadAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (_next > _count)
        {
            return ValueTask.FromResult<InputRecord?>(null);
        }

        long sequence = _next++;
        byte[] value = (byte[])_template.Clone();
        Utf8Formatter.TryFormat(sequence, value.AsSpan(0, Digits), out _, new System.Buffers.StandardFormat('D', Digits));
        return ValueTask.FromResult<InputRecord?>(new InputRecord(sequence, null, value, null));
    }

    public override ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
