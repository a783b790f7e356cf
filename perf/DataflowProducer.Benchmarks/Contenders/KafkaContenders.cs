using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;

namespace DataflowProducer.Benchmarks.Contenders;

/// <summary>
/// The three ways to produce N messages that the benchmarks compare. Each returns only when every message's delivery
/// is known, and returns the number delivered, so a contender cannot win by losing messages.
/// </summary>
public static class KafkaContenders
{
    /// <summary>The size of one <c>Task.WhenAll</c> chunk of the <c>ProduceAsync</c> contender.</summary>
    public const int WhenAllChunk = 1000;

    /// <summary>How long a contender may run before the benchmark calls it stuck (a hang fails, it does not stall).</summary>
    public static readonly TimeSpan StuckAfter = TimeSpan.FromMinutes(2);

    /// <summary>The pipeline (default options unless told otherwise) over the given producer: post from one thread
    /// (falling back to <c>SendAsync</c> when the block is full), then <c>Complete</c> and await <c>Completion</c>.</summary>
    public static async Task<long> PipelineAsync(IProducer<Null, byte[]> producer, string topic, KafkaRecord<Null, byte[]>[] records, int count, BatchProducerOptions? options = null)
    {
        BatchProducerBlock<KafkaRecord<Null, byte[]>> block = KafkaProducerBlock.Create(
            producer,
            new KafkaSinkOptions<Null, byte[]> { DefaultTopic = topic },
            options ?? new BatchProducerOptions());
        for (int i = 0; i < count; i++)
        {
            KafkaRecord<Null, byte[]> record = records[i];
            if (!block.Post(record) && !await block.SendAsync(record).ConfigureAwait(false))
            {
                throw new InvalidOperationException($"The pipeline declined message {i} permanently.");
            }
        }

        block.Complete();
        try
        {
            await block.Completion.WaitAsync(StuckAfter).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The pipeline did not complete within {StuckAfter}: {block.GetStatistics()}.");
        }

        return block.GetStatistics().Delivered;
    }

    /// <summary>The pipeline with the given options; returns its final statistics (delivered and batches).</summary>
    public static async Task<BatchProducerStatistics> PipelineStatisticsAsync(IProducer<Null, byte[]> producer, string topic, KafkaRecord<Null, byte[]>[] records, int count, BatchProducerOptions options)
    {
        BatchProducerBlock<KafkaRecord<Null, byte[]>> block = KafkaProducerBlock.Create(producer, new KafkaSinkOptions<Null, byte[]> { DefaultTopic = topic }, options);
        for (int i = 0; i < count; i++)
        {
            KafkaRecord<Null, byte[]> record = records[i];
            if (!block.Post(record) && !await block.SendAsync(record).ConfigureAwait(false))
            {
                throw new InvalidOperationException($"The pipeline declined message {i} permanently.");
            }
        }

        block.Complete();
        await block.Completion.WaitAsync(StuckAfter).ConfigureAwait(false);
        return block.GetStatistics();
    }

    /// <summary>The pipeline with outcomes on (<see cref="BatchProducerOptions.EmitOutcomes"/>, so the sink also records
    /// each delivery's receipt), read by an ActionBlock that keeps the highest offset per partition, as a committer
    /// would. Returns the delivered count the outcomes gave.</summary>
    public static async Task<long> PipelineWithOutcomesAsync(IProducer<Null, byte[]> producer, string topic, KafkaRecord<Null, byte[]>[] records, int count)
    {
        BatchProducerBlock<KafkaRecord<Null, byte[]>> block = KafkaProducerBlock.Create(
            producer,
            new KafkaSinkOptions<Null, byte[]> { DefaultTopic = topic },
            new BatchProducerOptions { EmitOutcomes = true });
        long delivered = 0;
        var highest = new Dictionary<int, long>();
        var reader = new ActionBlock<BatchOutcome<KafkaRecord<Null, byte[]>>>(batch =>
        {
            foreach (ItemOutcome<KafkaRecord<Null, byte[]>> outcome in batch)
            {
                if (outcome is { Status: OutcomeStatus.Delivered, Receipt: { Partition: int partition, Offset: long offset } })
                {
                    delivered++;
                    highest[partition] = Math.Max(offset, highest.GetValueOrDefault(partition, -1));
                }
            }
        });
        block.Outcomes.LinkTo(reader, new DataflowLinkOptions { PropagateCompletion = true });
        for (int i = 0; i < count; i++)
        {
            KafkaRecord<Null, byte[]> record = records[i];
            if (!block.Post(record) && !await block.SendAsync(record).ConfigureAwait(false))
            {
                throw new InvalidOperationException($"The pipeline declined message {i} permanently.");
            }
        }

        block.Complete();
        await block.Completion.WaitAsync(StuckAfter).ConfigureAwait(false);
        await reader.Completion.WaitAsync(StuckAfter).ConfigureAwait(false);
        return delivered;
    }

    /// <summary>The ceiling: <c>Produce</c> with one shared delivery handler that counts, waiting briefly when the
    /// client's queue is full, then <c>Flush</c>.</summary>
    public static long RawProduce(IProducer<Null, byte[]> producer, string topic, KafkaRecord<Null, byte[]>[] records, int count)
    {
        var counter = new DeliveryCounter();
        Action<DeliveryReport<Null, byte[]>> handler = counter.OnReport;
        for (int i = 0; i < count; i++)
        {
            ProduceWaitingForRoom(producer, topic, records[i], handler);
        }

        while (producer.Flush(TimeSpan.FromSeconds(10)) > 0)
        {
        }

        if (counter.Failed > 0)
        {
            throw new InvalidOperationException($"{counter.Failed} raw-produce deliveries failed.");
        }

        return counter.Delivered;
    }

    /// <summary>Raw <c>Produce</c> of one message the usual way: when the client's queue is full, give its threads a
    /// moment to drain, then retry the same message.</summary>
    public static void ProduceWaitingForRoom(IProducer<Null, byte[]> producer, string topic, Message<Null, byte[]> message, Action<DeliveryReport<Null, byte[]>> handler)
    {
        while (true)
        {
            try
            {
                producer.Produce(topic, message, handler);
                return;
            }
            catch (ProduceException<Null, byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
            {
                Thread.Sleep(1);
            }
        }
    }

    /// <summary>What many users write: <c>ProduceAsync</c> for a chunk of messages, then <c>await Task.WhenAll</c>.</summary>
    public static async Task<long> ProduceAsyncWhenAllAsync(IProducer<Null, byte[]> producer, string topic, KafkaRecord<Null, byte[]>[] records, int count)
    {
        long delivered = 0;
        for (int start = 0; start < count; start += WhenAllChunk)
        {
            int n = Math.Min(WhenAllChunk, count - start);
            var chunk = new Task<DeliveryResult<Null, byte[]>>[n];
            for (int i = 0; i < n; i++)
            {
                chunk[i] = producer.ProduceAsync(topic, records[start + i]);
            }

            DeliveryResult<Null, byte[]>[] results = await Task.WhenAll(chunk).ConfigureAwait(false);
            delivered += results.Length;
        }

        return delivered;
    }

    private sealed class DeliveryCounter
    {
        private long _delivered;
        private long _failed;

        public long Delivered => Interlocked.Read(ref _delivered);

        public long Failed => Interlocked.Read(ref _failed);

        public void OnReport(DeliveryReport<Null, byte[]> report)
        {
            if (report.Error.IsError)
            {
                Interlocked.Increment(ref _failed);
            }
            else
            {
                Interlocked.Increment(ref _delivered);
            }
        }
    }
}
