using System.Runtime.InteropServices;

namespace DataflowProducer.Kafka.Testing.Internal;

/// <summary>
/// Owns a librdkafka mock cluster (<c>rd_kafka_mock_cluster_t*</c>) together with the client handle
/// (<c>rd_kafka_t*</c>) it was created on, and releases both in the only valid order: cluster, then client.
/// </summary>
/// <remarks>
/// One handle for both pointers keeps the order right even when the finalizer, not <c>Dispose</c>, releases
/// them. Passing this <see cref="SafeHandle"/> to a P/Invoke adds a reference for the duration of the call,
/// so a concurrent <c>Dispose</c> waits for in-flight calls instead of freeing the cluster under them.
/// </remarks>
internal sealed class MockClusterHandle : SafeHandle
{
    private IntPtr _kafkaHandle;

    public MockClusterHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    /// <inheritdoc />
    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>
    /// Creates a producer-type client handle with <paramref name="configuration"/> and a mock cluster of
    /// <paramref name="brokerCount"/> brokers on it.
    /// </summary>
    /// <exception cref="InvalidOperationException">librdkafka rejected a setting or could not create the handle or cluster.</exception>
    internal static MockClusterHandle Create(int brokerCount, IEnumerable<KeyValuePair<string, string>> configuration)
    {
        LibrdKafkaNative.EnsureLoaded();

        var result = new MockClusterHandle();
        IntPtr errorBuffer = Marshal.AllocHGlobal(LibrdKafkaNative.ErrorBufferSize);
        Marshal.WriteByte(errorBuffer, 0);
        IntPtr conf = IntPtr.Zero;
        IntPtr rk = IntPtr.Zero;
        try
        {
            conf = LibrdKafkaNative.rd_kafka_conf_new();
            foreach ((string name, string value) in configuration)
            {
                if (LibrdKafkaNative.rd_kafka_conf_set(conf, LibrdKafkaNative.Utf8(name), LibrdKafkaNative.Utf8(value), errorBuffer, LibrdKafkaNative.ErrorBufferSize)
                    != LibrdKafkaNative.ConfOk)
                {
                    throw new InvalidOperationException(
                        $"librdkafka rejected the mock cluster client setting '{name}' = '{value}': {ReadError(errorBuffer)}");
                }
            }

            rk = LibrdKafkaNative.rd_kafka_new(LibrdKafkaNative.ProducerType, conf, errorBuffer, LibrdKafkaNative.ErrorBufferSize);
            if (rk == IntPtr.Zero)
            {
                throw new InvalidOperationException("librdkafka could not create the mock cluster's client handle: " + ReadError(errorBuffer));
            }

            // rd_kafka_new took ownership of conf.
            conf = IntPtr.Zero;

            IntPtr cluster = LibrdKafkaNative.rd_kafka_mock_cluster_new(rk, brokerCount);
            if (cluster == IntPtr.Zero)
            {
                throw new InvalidOperationException(
                    $"librdkafka could not create a mock cluster with {brokerCount} brokers (see librdkafka's log on stderr).");
            }

            result._kafkaHandle = rk;
            result.SetHandle(cluster);
            rk = IntPtr.Zero;
            return result;
        }
        finally
        {
            if (rk != IntPtr.Zero)
            {
                LibrdKafkaNative.rd_kafka_destroy(rk);
            }

            if (conf != IntPtr.Zero)
            {
                LibrdKafkaNative.rd_kafka_conf_destroy(conf);
            }

            Marshal.FreeHGlobal(errorBuffer);
        }
    }

    /// <inheritdoc />
    protected override bool ReleaseHandle()
    {
        LibrdKafkaNative.rd_kafka_mock_cluster_destroy(handle);
        LibrdKafkaNative.rd_kafka_destroy(_kafkaHandle);
        _kafkaHandle = IntPtr.Zero;
        return true;
    }

    private static string ReadError(IntPtr errorBuffer) => Marshal.PtrToStringUTF8(errorBuffer) ?? string.Empty;
}
