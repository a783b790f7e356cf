using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Confluent.Kafka;
using DataflowProducer.Benchmarks.Contenders;
using DataflowProducer.Kafka.Testing;

namespace DataflowProducer.Benchmarks;

/// <summary>
/// The pipeline against raw Confluent.Kafka on a 3-broker mock cluster: <c>Produce</c> with a delivery handler (the
/// ceiling) and <c>ProduceAsync</c> with <c>Task.WhenAll</c> over chunks of 1000. Every iteration produces to a fresh
/// 4-partition topic with a producer that is already connected; results are per message.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class KafkaProduceBenchmarks : IDisposable
{
    private const int Messages = 200_000;

    private MockKafkaCluster? _cluster;
    private KafkaRecord<Null, byte[]>[] _records = [];
    private IProducer<Null, byte[]>? _producer;
    private string _topic = "";

    [GlobalSetup]
    public void Setup()
    {
        _cluster = MockKafkaCluster.Start(3);
        _records = KafkaSettings.CreateRecords(Messages);
    }

    [IterationSetup]
    public void NewTopic()
    {
        _producer?.Dispose();
        _topic = KafkaSettings.NewTopic("bdn");
        _cluster!.CreateTopic(_topic, KafkaSettings.Partitions);
        _producer = KafkaSettings.BuildConnectedProducer(_cluster.BootstrapServers, _topic);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Messages)]
    public long RawProduce() => Check(KafkaContenders.RawProduce(_producer!, _topic, _records, Messages));

    [Benchmark(OperationsPerInvoke = Messages)]
    public async Task<long> Pipeline() => Check(await KafkaContenders.PipelineAsync(_producer!, _topic, _records, Messages));

    [Benchmark(OperationsPerInvoke = Messages)]
    public async Task<long> ProduceAsyncWhenAll() => Check(await KafkaContenders.ProduceAsyncWhenAllAsync(_producer!, _topic, _records, Messages));

    [GlobalCleanup]
    public void Dispose()
    {
        _producer?.Dispose();
        _producer = null;
        _cluster?.Dispose();
        _cluster = null;
        GC.SuppressFinalize(this);
    }

    private static long Check(long delivered) =>
        delivered == Messages ? delivered : throw new InvalidOperationException($"{delivered} of {Messages} messages were delivered.");
}
