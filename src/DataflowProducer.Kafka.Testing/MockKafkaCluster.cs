using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Confluent.Kafka;
using DataflowProducer.Kafka.Testing.Internal;

namespace DataflowProducer.Kafka.Testing;

/// <summary>
/// A Kafka cluster inside this process: librdkafka's own mock cluster, whose brokers speak the Kafka
/// protocol over real TCP listeners on 127.0.0.1, with fault injection for tests.
/// </summary>
/// <remarks>
/// <para>
/// Point any Kafka client at <see cref="BootstrapServers"/>. The mock brokers support produce (including
/// idempotent and transactional producers), consume, consumer groups and offset commits, and metadata.
/// They do not support the CreateTopics admin request; create topics with <see cref="CreateTopic"/>. A topic
/// that a client asks for before it exists is auto-created when the client allows it (librdkafka's
/// <c>allow.auto.create.topics</c>), with the mock's default partition count.
/// </para>
/// <para>
/// Broker ids run from 1 to <see cref="BrokerCount"/>. The methods of this class may be called from any
/// thread. Disposing destroys the cluster: its listeners close, and clients still connected to it see
/// their connections fail.
/// </para>
/// <para>
/// The mock cluster is an experimental librdkafka API, not covered by its stability guarantees. This class
/// binds the librdkafka file that Confluent.Kafka loaded, so both share one copy of the native library.
/// </para>
/// </remarks>
[DebuggerDisplay("{BootstrapServers,nq} ({BrokerCount} brokers)")]
public sealed class MockKafkaCluster : IDisposable
{
    /// <summary>The number of brokers <see cref="Start"/> creates when not told otherwise: 3.</summary>
    public const int DefaultBrokerCount = 3;

    private const string ClientId = "dataflowproducer-mock-cluster";

    private readonly MockClusterHandle _handle;

    private MockKafkaCluster(MockClusterHandle handle, int brokerCount)
    {
        _handle = handle;
        BrokerCount = brokerCount;
        BrokerIds = Enumerable.Range(1, brokerCount).ToArray();
        BootstrapServers = Marshal.PtrToStringUTF8(LibrdKafkaNative.rd_kafka_mock_cluster_bootstraps(handle))
            ?? throw new InvalidOperationException("librdkafka returned no bootstrap servers for the mock cluster.");
    }

    /// <summary>
    /// The brokers' addresses, comma separated (<c>127.0.0.1:port,…</c>), for a client's
    /// <c>bootstrap.servers</c>.
    /// </summary>
    public string BootstrapServers { get; }

    /// <summary>The number of brokers in the cluster.</summary>
    public int BrokerCount { get; }

    /// <summary>The broker ids: 1 to <see cref="BrokerCount"/>.</summary>
    public IReadOnlyList<int> BrokerIds { get; }

    /// <summary>
    /// Starts a mock cluster of <paramref name="brokerCount"/> brokers, listening on 127.0.0.1 on ports the
    /// operating system picks.
    /// </summary>
    /// <param name="brokerCount">The number of brokers; at least 1. Default: <see cref="DefaultBrokerCount"/>.</param>
    /// <returns>The running cluster. Dispose it to stop it.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="brokerCount"/> is less than 1.</exception>
    /// <exception cref="DllNotFoundException">librdkafka could not be loaded.</exception>
    /// <exception cref="InvalidOperationException">librdkafka could not create the cluster.</exception>
    public static MockKafkaCluster Start(int brokerCount = DefaultBrokerCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(brokerCount, 1);

        // The handle is a producer that never produces: the mock cluster only needs it for bookkeeping,
        // so it gets no bootstrap.servers. librdkafka warns about that at notice level (5) on every start;
        // log level 4 keeps warnings and errors, from the mock brokers too, and drops that noise.
        MockClusterHandle handle = MockClusterHandle.Create(
            brokerCount,
            [
                new KeyValuePair<string, string>("client.id", ClientId),
                new KeyValuePair<string, string>("log_level", "4"),
            ]);
        try
        {
            return new MockKafkaCluster(handle, brokerCount);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Creates a topic on the cluster.</summary>
    /// <param name="topic">The topic name.</param>
    /// <param name="partitions">The number of partitions; at least 1.</param>
    /// <param name="replicationFactor">The number of replicas per partition, from 1 to <see cref="BrokerCount"/>. Default: 1.</param>
    /// <exception cref="ArgumentException"><paramref name="topic"/> is empty or white space.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="topic"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="partitions"/> or <paramref name="replicationFactor"/> is out of range.</exception>
    /// <exception cref="KafkaException">The mock cluster refused, e.g. because the topic exists.</exception>
    /// <exception cref="ObjectDisposedException">The cluster was disposed.</exception>
    public void CreateTopic(string topic, int partitions, int replicationFactor = 1)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicationFactor, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(replicationFactor, BrokerCount);
        ThrowIfDisposed();

        ThrowOnError(
            LibrdKafkaNative.rd_kafka_mock_topic_create(_handle, LibrdKafkaNative.Utf8(topic), partitions, replicationFactor),
            $"create topic '{topic}' with {partitions} partitions and replication factor {replicationFactor}");
    }

    /// <summary>
    /// Disconnects the broker's clients and refuses new connections until <see cref="SetBrokerUp"/>.
    /// Leadership does not move: requests for partitions this broker leads wait or fail until it is back.
    /// </summary>
    /// <param name="brokerId">The broker id, from 1 to <see cref="BrokerCount"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="brokerId"/> is not one of <see cref="BrokerIds"/>.</exception>
    /// <exception cref="KafkaException">The mock cluster refused.</exception>
    /// <exception cref="ObjectDisposedException">The cluster was disposed.</exception>
    public void SetBrokerDown(int brokerId)
    {
        ThrowIfUnknownBroker(brokerId);
        ThrowIfDisposed();
        ThrowOnError(LibrdKafkaNative.rd_kafka_mock_broker_set_down(_handle, brokerId), $"set broker {brokerId} down");
    }

    /// <summary>Lets the broker accept connections again after <see cref="SetBrokerDown"/>.</summary>
    /// <param name="brokerId">The broker id, from 1 to <see cref="BrokerCount"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="brokerId"/> is not one of <see cref="BrokerIds"/>.</exception>
    /// <exception cref="KafkaException">The mock cluster refused.</exception>
    /// <exception cref="ObjectDisposedException">The cluster was disposed.</exception>
    public void SetBrokerUp(int brokerId)
    {
        ThrowIfUnknownBroker(brokerId);
        ThrowIfDisposed();
        ThrowOnError(LibrdKafkaNative.rd_kafka_mock_broker_set_up(_handle, brokerId), $"set broker {brokerId} up");
    }

    /// <summary>Sets every broker down, as <see cref="SetBrokerDown"/> does for one.</summary>
    /// <exception cref="KafkaException">The mock cluster refused.</exception>
    /// <exception cref="ObjectDisposedException">The cluster was disposed.</exception>
    public void SetAllBrokersDown()
    {
        ThrowIfDisposed();
        ThrowOnError(LibrdKafkaNative.rd_kafka_mock_broker_set_down(_handle, LibrdKafkaNative.AllBrokers), "set all brokers down");
    }

    /// <summary>Sets every broker up, as <see cref="SetBrokerUp"/> does for one.</summary>
    /// <exception cref="KafkaException">The mock cluster refused.</exception>
    /// <exception cref="ObjectDisposedException">The cluster was disposed.</exception>
    public void SetAllBrokersUp()
    {
        ThrowIfDisposed();
        ThrowOnError(LibrdKafkaNative.rd_kafka_mock_broker_set_up(_handle, LibrdKafkaNative.AllBrokers), "set all brokers up");
    }

    /// <summary>Delays every response of the broker by <paramref name="roundTripTime"/>.</summary>
    /// <param name="brokerId">The broker id, from 1 to <see cref="BrokerCount"/>.</param>
    /// <param name="roundTripTime">The delay, in whole milliseconds; <see cref="TimeSpan.Zero"/> removes it.</param>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <paramref name="brokerId"/> is not one of <see cref="BrokerIds"/>, or <paramref name="roundTripTime"/> is
    /// negative or longer than <see cref="int.MaxValue"/> milliseconds.
    /// </exception>
    /// <exception cref="KafkaException">The mock cluster refused.</exception>
    /// <exception cref="ObjectDisposedException">The cluster was disposed.</exception>
    public void SetBrokerRoundTripTime(int brokerId, TimeSpan roundTripTime)
    {
        ThrowIfUnknownBroker(brokerId);
        ArgumentOutOfRangeException.ThrowIfLessThan(roundTripTime, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(roundTripTime, TimeSpan.FromMilliseconds(int.MaxValue));
        ThrowIfDisposed();

        int milliseconds = (int)roundTripTime.TotalMilliseconds;
        ThrowOnError(
            LibrdKafkaNative.rd_kafka_mock_broker_set_rtt(_handle, brokerId, milliseconds),
            $"set the round-trip time of broker {brokerId} to {milliseconds} ms");
    }

    /// <summary>
    /// Makes the next <paramref name="errors"/>.Length requests of type <paramref name="apiKey"/>, to any broker,
    /// fail with these error codes, in order.
    /// </summary>
    /// <remarks>
    /// Errors pushed earlier and not used yet come first. <see cref="ErrorCode.Local_Transport"/> makes the
    /// broker close the connection instead of answering.
    /// </remarks>
    /// <param name="apiKey">The request type, e.g. <see cref="KafkaApiKey.Produce"/>.</param>
    /// <param name="errors">The error codes to answer with, one request each.</param>
    /// <exception cref="ArgumentNullException"><paramref name="errors"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The cluster was disposed.</exception>
    public void PushRequestErrors(KafkaApiKey apiKey, params ErrorCode[] errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        ThrowIfDisposed();
        if (errors.Length == 0)
        {
            return;
        }

        // rd_kafka_resp_err_t is a C enum (int); the copy is pinned only for the duration of the call.
        int[] codes = Array.ConvertAll(errors, error => (int)error);
        LibrdKafkaNative.rd_kafka_mock_push_request_errors_array(_handle, (short)apiKey, (nuint)codes.Length, codes);
    }

    /// <summary>Drops the errors pushed with <see cref="PushRequestErrors"/> for <paramref name="apiKey"/> that are not used yet.</summary>
    /// <param name="apiKey">The request type.</param>
    /// <exception cref="ObjectDisposedException">The cluster was disposed.</exception>
    public void ClearRequestErrors(KafkaApiKey apiKey)
    {
        ThrowIfDisposed();
        LibrdKafkaNative.rd_kafka_mock_clear_request_errors(_handle, (short)apiKey);
    }

    /// <summary>Destroys the cluster and closes its listeners. Safe to call more than once and from any thread.</summary>
    public void Dispose() => _handle.Dispose();

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_handle.IsClosed, this);

    private void ThrowIfUnknownBroker(int brokerId)
    {
        if (brokerId < 1 || brokerId > BrokerCount)
        {
            throw new ArgumentOutOfRangeException(
                nameof(brokerId),
                brokerId,
                string.Create(CultureInfo.InvariantCulture, $"Broker ids of this mock cluster run from 1 to {BrokerCount}."));
        }
    }

    private static void ThrowOnError(int error, string action)
    {
        if (error != 0)
        {
            var code = (ErrorCode)error;
            throw new KafkaException(new Error(
                code,
                $"The mock cluster could not {action}: {LibrdKafkaNative.ErrorToString(error)} ({code})."));
        }
    }
}
