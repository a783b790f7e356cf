using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;

namespace DataflowProducer.Cli.Verification;

/// <summary>Reads back, for <c>--verify</c>, what this run appends to a topic, streaming every record into a
/// <see cref="ContentDigest"/> (nothing is held), and counts what was appended from the partitions' end offsets.</summary>
/// <remarks>
/// <para>The read starts with the run, at each partition's end offset before the first record, and tails the topic
/// while the run produces: brokers may drop the oldest records of a partition (retention; librdkafka's mock cluster
/// keeps only about 5 MB per partition), so reading back only after a large run could find them gone. When the run
/// is over, <see cref="FinishAsync"/> takes each partition's end offset again and reads up to it.</para>
/// <para>The count check uses the end offsets (what was appended), so it holds even when records were dropped before
/// they could be read; the content check then says how many it could not see. The check assumes this run is the
/// only writer to the topic while it runs.</para>
/// </remarks>
internal sealed class TopicVerifier : IDisposable
{
    /// <summary>How long the read may go without receiving anything, after the run, before it gives up.</summary>
    public static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan MetadataTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    private readonly ClientConfig _config;
    private readonly string _topic;
    private readonly IConsumer<byte[]?, byte[]?> _consumer;
    private readonly Dictionary<int, long> _starts;
    private readonly Dictionary<int, long> _positions;
    private readonly ContentDigest _digest = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reading;
    private readonly bool _fromBeginning;
    private Dictionary<int, long>? _ends;
    private long _read;
    private long _missing;

    private TopicVerifier(ClientConfig config, string topic, bool fromBeginning)
    {
        _config = config;
        _topic = topic;
        _fromBeginning = fromBeginning;
        _consumer = CreateConsumer(config);
        Dictionary<int, long> ends = QueryEnds(_consumer, topic, allowMissing: true);
        _starts = fromBeginning ? ends.ToDictionary(p => p.Key, _ => 0L) : ends;
        _positions = new Dictionary<int, long>(_starts);
        if (_starts.Count > 0)
        {
            _consumer.Assign(_starts.Select(p => new TopicPartitionOffset(topic, p.Key, p.Value)));
        }

        // Consume blocks; a dedicated thread keeps it off the thread pool for the whole run.
        _reading = _starts.Count > 0
            ? Task.Factory.StartNew(ReadLoop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)
            : Task.CompletedTask;
    }

    /// <summary>Gets the number of records read back so far.</summary>
    public long RecordsRead => Interlocked.Read(ref _read);

    /// <summary>Takes the topic's end offsets and starts tailing it. Call before the first record is produced.</summary>
    /// <param name="config">The client settings.</param>
    /// <param name="topic">The topic; when it does not exist yet, it is read from its beginning by <see cref="FinishAsync"/>.</param>
    /// <returns>The running verifier.</returns>
    /// <exception cref="KafkaException">The topic's metadata or offsets cannot be read.</exception>
    public static TopicVerifier Start(ClientConfig config, string topic) => new(config, topic, fromBeginning: false);

    /// <summary>Reads up to the topic's end offsets now, after the run, and returns what was read.</summary>
    /// <param name="cancellationToken">Stops the read.</param>
    /// <returns>The outcome.</returns>
    /// <exception cref="TimeoutException">Nothing arrived for <see cref="StallTimeout"/>.</exception>
    /// <exception cref="KafkaException">The topic cannot be read.</exception>
    public async Task<VerificationRead> FinishAsync(CancellationToken cancellationToken)
    {
        if (_starts.Count == 0)
        {
            if (_fromBeginning)
            {
                return new VerificationRead(_digest, 0, 0);
            }

            // The topic did not exist when the run started (the producer created it): everything in it is this run's.
            using var fromBeginning = new TopicVerifier(_config, _topic, fromBeginning: true);
            return await fromBeginning.FinishAsync(cancellationToken).ConfigureAwait(false);
        }

        Dictionary<int, long> ends = await Task.Run(
            () =>
            {
                using IConsumer<byte[]?, byte[]?> consumer = CreateConsumer(_config);
                return QueryEnds(consumer, _topic, allowMissing: false);
            },
            cancellationToken).ConfigureAwait(false);
        Volatile.Write(ref _ends, ends);

        using (cancellationToken.Register(() => _stop.Cancel()))
        {
            await _reading.ConfigureAwait(false);
        }

        cancellationToken.ThrowIfCancellationRequested();
        long appended = ends.Sum(p => p.Value - _starts.GetValueOrDefault(p.Key));
        return new VerificationRead(_digest, appended, Interlocked.Read(ref _missing));
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _reading.Wait(MetadataTimeout);
        }
        catch (AggregateException)
        {
            // Reported by FinishAsync when it was called.
        }

        _consumer.Close();
        _consumer.Dispose();
        _stop.Dispose();
    }

    // Reads until every partition reaches its end offset; the end offsets are known only once the run is over.
    private void ReadLoop()
    {
        long lastReceived = Stopwatch.GetTimestamp();
        while (!_stop.IsCancellationRequested)
        {
            Dictionary<int, long>? ends = Volatile.Read(ref _ends);
            if (ends is not null && _positions.All(p => p.Value >= ends.GetValueOrDefault(p.Key)))
            {
                return;
            }

            ConsumeResult<byte[]?, byte[]?>? result = _consumer.Consume(PollInterval);
            if (result is null)
            {
                if (ends is null)
                {
                    lastReceived = Stopwatch.GetTimestamp();
                }
                else if (Stopwatch.GetElapsedTime(lastReceived) > StallTimeout)
                {
                    throw new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"Reading topic '{_topic}' back stalled: nothing received for {StallTimeout.TotalSeconds:F0} s after {RecordsRead} record(s)."));
                }

                continue;
            }

            lastReceived = Stopwatch.GetTimestamp();
            int partition = result.Partition.Value;
            long position = _positions[partition];
            long offset = result.Offset.Value;
            if (result.IsPartitionEOF)
            {
                _positions[partition] = Math.Max(position, offset);
                continue;
            }

            if (offset < position || (ends is not null && offset >= ends[partition]))
            {
                continue;
            }

            // Records below this offset were dropped by the broker before they could be read back.
            if (offset > position)
            {
                Interlocked.Add(ref _missing, offset - position);
            }

            Message<byte[]?, byte[]?> message = result.Message;
            _digest.Add(message.Key, message.Key is null, message.Value);
            Interlocked.Increment(ref _read);
            _positions[partition] = offset + 1;
        }

        _stop.Token.ThrowIfCancellationRequested();
    }

    private static IConsumer<byte[]?, byte[]?> CreateConsumer(ClientConfig config)
    {
        var consumerConfig = new ConsumerConfig(config.ToDictionary(static p => p.Key, static p => p.Value))
        {
            GroupId = "dataflow-producer-verify-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            EnablePartitionEof = true,
            AllowAutoCreateTopics = false,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            FetchWaitMaxMs = 50,
        };

        // The -X settings are the producer's, so librdkafka warns about each producer-only one; its log is not
        // this tool's output, and read errors surface as a stalled read instead.
        return new ConsumerBuilder<byte[]?, byte[]?>(consumerConfig)
            .SetKeyDeserializer(Deserializers.ByteArray)
            .SetValueDeserializer(Deserializers.ByteArray)
            .SetLogHandler(static (_, _) => { })
            .SetErrorHandler(static (_, _) => { })
            .Build();
    }

    private static Dictionary<int, long> QueryEnds(IConsumer<byte[]?, byte[]?> consumer, string topic, bool allowMissing)
    {
        using IAdminClient admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        TopicMetadata? metadata = admin.GetMetadata(topic, MetadataTimeout).Topics.SingleOrDefault(t => t.Topic == topic);
        var ends = new Dictionary<int, long>();
        if (metadata is null || metadata.Error.Code == ErrorCode.UnknownTopicOrPart)
        {
            return allowMissing ? ends : throw new KafkaException(new Error(ErrorCode.UnknownTopicOrPart, $"Topic '{topic}' does not exist."));
        }

        if (metadata.Error.IsError)
        {
            throw new KafkaException(new Error(metadata.Error.Code, $"Cannot read topic '{topic}': {metadata.Error.Reason}."));
        }

        foreach (PartitionMetadata partition in metadata.Partitions)
        {
            WatermarkOffsets watermarks = consumer.QueryWatermarkOffsets(new TopicPartition(topic, partition.PartitionId), MetadataTimeout);
            ends[partition.PartitionId] = watermarks.High.Value;
        }

        return ends;
    }
}
