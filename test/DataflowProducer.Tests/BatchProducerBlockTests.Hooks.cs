using System.Diagnostics;
using System.Threading.Tasks.Dataflow;
using DataflowProducer.Testing;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace DataflowProducer.Tests;

// The public seams a sink or a factory uses instead of the core's internals: IBatchSinkHooks<T> and
// BatchProducerOptions.Validate().
public partial class BatchProducerBlockTests
{
    [Test]
    public void Validate_SeveralBrokenRules_OneLineEachNamingSettingAndValue()
    {
        var options = new BatchProducerOptions { BatchSize = 0, MaxInFlightBatches = -1, DrainTimeout = TimeSpan.FromSeconds(-2), TimeProvider = null! };

        IReadOnlyList<string> errors = options.Validate();

        Assert.Multiple(() =>
        {
            Assert.That(errors, Has.Count.EqualTo(4));
            Assert.That(errors[0], Does.Contain("BatchSize").And.Contain("was 0"));
            Assert.That(errors[1], Does.Contain("MaxInFlightBatches").And.Contain("was -1"));
            Assert.That(errors[2], Does.Contain("DrainTimeout").And.Contain("-00:00:02"));
            Assert.That(errors[3], Does.Contain("TimeProvider"));
            Assert.That(errors, Has.None.Contain("Parameter").And.None.Contain("\n"));
        });
    }

    [Test]
    public void Validate_Defaults_NoErrors()
    {
        Assert.That(new BatchProducerOptions().Validate(), Is.Empty);
    }

    [Test, CancelAfter(10_000)]
    public async Task Hooks_SinkWithHooks_TagsOnMeasurementsOfferedItemsSeenAndSinkDisposedAtTheEnd(CancellationToken ct)
    {
        using var collector = new MetricCollector<long>(null, "DataflowProducer", "dataflowproducer.messages.delivered");
        var sink = new HookedSink { DisposeWhenFinished = true };
        var block = new BatchProducerBlock<int>(sink, Options(batchSize: 2));

        Assert.That(await block.SendAsync(1, ct) && block.Post(2) && block.Post(3), Is.True);
        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(sink.Offered, Is.EqualTo(new[] { 1, 2, 3 }), "every item offered by value, in order");
            Assert.That(sink.Disposals, Is.EqualTo(1), "DisposeWhenFinished: the block disposed the sink once");
            Assert.That(collector.GetMeasurementSnapshot().Where(static m => m.Tags.TryGetValue("sink.tag", out object? v) && Equals(v, "yes")).Sum(static m => m.Value), Is.EqualTo(3));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Hooks_DisposeWhenFinishedFalse_SinkNotDisposed(CancellationToken ct)
    {
        var sink = new HookedSink { DisposeWhenFinished = false };
        var block = new BatchProducerBlock<int>(sink, Options(batchSize: 1));
        block.Post(1);
        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.That(sink.Disposals, Is.Zero);
    }

    [Test, CancelAfter(10_000)]
    public async Task Hooks_OnOfferedThrows_ItemStillAcceptedAndDelivered(CancellationToken ct)
    {
        var sink = new HookedSink { ThrowOnOffered = true };
        var block = new BatchProducerBlock<int>(sink, Options(batchSize: 2));

        Assert.That(block.Post(1) && block.Post(2), Is.True);
        block.Complete();
        await block.Completion.WaitAsync(ct);

        Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(2, 1, 2, 0, 0, 0)));
    }

    [Test, CancelAfter(10_000)]
    public async Task Hooks_BatchTagsWithDestination_NameTheBatchSpan(CancellationToken ct)
    {
        var names = new List<string>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = static source => source.Name == "DataflowProducer",
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                lock (names)
                {
                    names.Add(activity.DisplayName);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        var block = new BatchProducerBlock<int>(new HookedSink { Destination = "orders-hooks" }, Options(batchSize: 1));
        block.Post(1);
        block.Complete();
        await block.Completion.WaitAsync(ct);

        lock (names)
        {
            Assert.That(names, Does.Contain("send orders-hooks"));
        }
    }

    private sealed class HookedSink : IBatchSink<int>, IBatchSinkHooks<int>, IAsyncDisposable
    {
        private readonly RecordingBatchSink<int> _inner = new();
        private readonly List<int> _offered = [];
        private int _disposals;

        public bool DisposeWhenFinished { get; init; }

        public bool ThrowOnOffered { get; init; }

        public string? Destination { get; init; }

        public IReadOnlyList<KeyValuePair<string, object?>> TelemetryTags { get; } = [new("sink.tag", "yes")];

        public IReadOnlyList<KeyValuePair<string, object?>> GetBatchTags(IReadOnlyList<int> batch) =>
            Destination is { } destination ? [new("messaging.destination.name", destination)] : [];

        public IReadOnlyList<int> Offered
        {
            get
            {
                lock (_offered)
                {
                    return [.. _offered];
                }
            }
        }

        public int Disposals => Volatile.Read(ref _disposals);

        public ValueTask<Task<BatchResult>> AcceptAsync(ReadOnlyMemory<int> batch, CancellationToken cancellationToken) => _inner.AcceptAsync(batch, cancellationToken);

        public Task FlushAsync(TimeSpan timeout, CancellationToken cancellationToken) => _inner.FlushAsync(timeout, cancellationToken);

        public void OnOffered(int item)
        {
            if (ThrowOnOffered)
            {
                throw new InvalidOperationException("OnOffered threw");
            }

            lock (_offered)
            {
                _offered.Add(item);
            }
        }

        public ValueTask DisposeAsync()
        {
            Interlocked.Increment(ref _disposals);
            return ValueTask.CompletedTask;
        }
    }
}
