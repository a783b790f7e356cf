using Confluent.Kafka;
using DataflowProducer.Kafka.Tests.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace DataflowProducer.Kafka.Tests;

/// <summary>Unit tests of <see cref="KafkaBatchSink{TKey, TValue}"/> over a substituted producer. No broker, no
/// sleeping: queue-full waits run on a <see cref="FakeTimeProvider"/>.</summary>
public partial class KafkaBatchSinkTests
{
    private static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(100);

    private ProducerStub _stub = null!;
    private BytesProducerStub _bytes = null!;
    private FakeTimeProvider _time = null!;

    [SetUp]
    public void SetUp()
    {
        _stub = new ProducerStub();
        _bytes = new BytesProducerStub();
        _time = new FakeTimeProvider();
        _failed = [];
        _abandoned = [];
    }

    private KafkaBatchSink<string, string> CreateSut(string? defaultTopic = null) =>
        new(_stub.Producer, new KafkaSinkOptions<string, string> { DefaultTopic = defaultTopic, QueueFullRetryInterval = RetryInterval }, logger: null, _time);

    private static BatchResult Completed(Task<BatchResult> acknowledgement)
    {
        Assert.That(acknowledgement.IsCompletedSuccessfully, Is.True, "the acknowledgement should be complete");
        return acknowledgement.Result;
    }

    /// <summary>Moves fake time on, one retry interval at a time, until <paramref name="task"/> completes. The sink may
    /// arm its next timer on another thread, so time is moved again after each yield; nothing here sleeps.</summary>
    private async Task<T> AdvanceUntilCompleted<T>(Task<T> task, CancellationToken ct)
    {
        await AdvanceUntilCompleted((Task)task, ct);
        return await task;
    }

    private async Task AdvanceUntilCompleted(Task task, CancellationToken ct)
    {
        while (!task.IsCompleted)
        {
            ct.ThrowIfCancellationRequested();
            _time.Advance(RetryInterval);
            await Task.Yield();
        }
    }
}
