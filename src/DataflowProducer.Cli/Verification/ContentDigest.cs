using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;

namespace DataflowProducer.Cli.Verification;

/// <summary>An order-independent digest of a multiset of (key, value) records: the count and the sum, modulo
/// 2^128, of each record's SHA-256 (first 128 bits). Order-independent because Kafka keeps order only per
/// partition; a sum rather than an XOR so that a duplicated record changes it instead of cancelling out; and
/// subtractable, so records that fail or are abandoned can be taken out of what was sent.</summary>
/// <remarks>Thread-safe: the reader loop adds while the pipeline's callbacks remove.</remarks>
internal sealed class ContentDigest
{
    private readonly Lock _lock = new();
    private long _count;
    private UInt128 _sum;

    /// <summary>Gets the number of records.</summary>
    public long Count
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    /// <summary>Adds a record.</summary>
    /// <param name="key">Its key, or null.</param>
    /// <param name="value">Its value, or null.</param>
    public void Add(ReadOnlySpan<byte> key, bool keyIsNull, ReadOnlySpan<byte> value)
    {
        UInt128 hash = Hash(key, keyIsNull, value);
        lock (_lock)
        {
            _count++;
            _sum += hash;
        }
    }

    /// <summary>Takes a record out.</summary>
    /// <param name="key">Its key, or null.</param>
    /// <param name="value">Its value, or null.</param>
    public void Remove(ReadOnlySpan<byte> key, bool keyIsNull, ReadOnlySpan<byte> value)
    {
        UInt128 hash = Hash(key, keyIsNull, value);
        lock (_lock)
        {
            _count--;
            _sum -= hash;
        }
    }

    /// <summary>Tells whether two digests hold the same records.</summary>
    /// <param name="other">The other digest.</param>
    /// <returns>True when the counts and sums are equal.</returns>
    public bool Matches(ContentDigest other) => Count == other.Count && ToString() == other.ToString();

    /// <summary>The sum in hex, for the report.</summary>
    /// <returns>32 hex digits.</returns>
    public override string ToString()
    {
        lock (_lock)
        {
            return _sum.ToString("x32", CultureInfo.InvariantCulture);
        }
    }

    private static UInt128 Hash(ReadOnlySpan<byte> key, bool keyIsNull, ReadOnlySpan<byte> value)
    {
        // The key's length (-1 for null) first, so (key, value) pairs cannot collide by moving bytes across.
        int length = 4 + key.Length + value.Length;
        byte[]? rented = length > 1024 ? ArrayPool<byte>.Shared.Rent(length) : null;
        Span<byte> buffer = rented is null ? stackalloc byte[length] : rented.AsSpan(0, length);
        BinaryPrimitives.WriteInt32LittleEndian(buffer, keyIsNull ? -1 : key.Length);
        key.CopyTo(buffer[4..]);
        value.CopyTo(buffer[(4 + key.Length)..]);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(buffer, hash);
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }

        return new UInt128(BinaryPrimitives.ReadUInt64LittleEndian(hash), BinaryPrimitives.ReadUInt64LittleEndian(hash[8..]));
    }
}
