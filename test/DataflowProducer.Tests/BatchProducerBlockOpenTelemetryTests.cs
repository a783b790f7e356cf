using System.Diagnostics;
using System.Threading.Tasks.Dataflow;
using DataflowProducer.Testing;
using DataflowProducer.Tests.Shared;
using Microsoft.Extensions.Time.Testing;
using OpenTelemetry.Metrics;

namespace DataflowProducer.Tests;

// The pipeline's telemetry read through the real OpenTelemetry SDK (in-memory exporters): the messaging semantic
// conventions' instruments and spans, each batch measured from its own outcome.
[NonParallelizable]
public class BatchProducerBlockOpenTelemetryTests
{
    private const string PosterSource = "DataflowProducer.Tests.Poster";

    private static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    public enum AbandonPath
    {
        // The acknowledgement never comes: the abort settles the batch whole.
        NoOutcome,

        // The sink's last flush reports the batch's items abandoned: the batch is reported, all of it abandoned.
        SinkReportsAbandoned,

        // The sink throws while accepting the batch.
        SinkThrows,
    }

    [Test, CancelAfter(10_000)]
    public async Task Metrics_OpenTelemetrySdk_ConventionInstrumentsWithUnitsBucketsAttributesAndSumsEqualToStatistics(CancellationToken ct)
    {
        string name = NewName();
        using var otel = new OpenTelemetryCapture(name);
        var sink = new TelemetrySink
        {
            FailWhen = m => m.N switch
            {
                60 => new CodedException("QUOTA"),
                80 => new InvalidOperationException("item 80 rejected"),
                _ => null,
            },
        };
        var block = CreateSut(sink, name, batchSize: 25);

        // Batch 1 (25-49) has a record for another topic: it has no single destination.
        for (int i = 0; i < 100; i++)
        {
            Assert.That(block.Post(new Message(i == 30 ? "b" : "a", i)), Is.True);
        }

        block.Complete();
        Assert.That(async () => await block.Completion.WaitAsync(ct), Throws.InstanceOf<BatchProducerException>());
        BatchProducerStatistics s = block.GetStatistics();

        var sent = otel.Metric("messaging.client.sent.messages");
        var duration = otel.Metric("messaging.client.operation.duration");
        var acknowledge = otel.Metric("dataflowproducer.batch.acknowledge.duration");
        var failed = otel.Metric("dataflowproducer.messages.failed");
        IReadOnlyList<Activity> spans = otel.BatchSpans;
        Assert.Multiple(() =>
        {
            Assert.That((sent.Type, sent.Unit), Is.EqualTo(((MetricType?)MetricType.LongSum, "{message}")));
            Assert.That(sent.Sum, Is.EqualTo(s.Delivered + s.Failed).And.EqualTo(100));
            Assert.That(sent.SumWhere("error.type", null), Is.EqualTo(s.Delivered), "delivered messages carry no error.type");
            Assert.That(sent.SumWhere("error.type", "QUOTA"), Is.EqualTo(1), "the sink's own low-cardinality error identifier");
            Assert.That(sent.SumWhere("error.type", "System.InvalidOperationException"), Is.EqualTo(1), "else the full type name");
            Assert.That(sent.SumWhere("messaging.destination.name", "a"), Is.EqualTo(75));
            Assert.That(sent.SumWhere("messaging.destination.name", null), Is.EqualTo(25), "no destination on the batch with two topics");
            Assert.That(sent.Points.Select(p => (p.Tags["messaging.operation.name"], p.Tags["messaging.operation.type"], p.Tags["messaging.system"])), Is.All.EqualTo(("send", "send", "test")));

            Assert.That((duration.Type, duration.Unit), Is.EqualTo(((MetricType?)MetricType.Histogram, "s")));
            Assert.That(duration.Sum, Is.EqualTo(s.Batches).And.EqualTo(4), "one send operation per batch");
            Assert.That(duration.SumWhere("error.type", "QUOTA") + duration.SumWhere("error.type", "System.InvalidOperationException"), Is.EqualTo(2));
            Assert.That(duration.Points.Select(p => p.Bounds), Is.All.EqualTo(DurationBuckets));
            Assert.That(duration.Points.Select(p => p.Tags["messaging.operation.name"]), Is.All.EqualTo("send"));

            Assert.That((acknowledge.Unit, acknowledge.Sum), Is.EqualTo(("s", 4L)));
            Assert.That(acknowledge.Points.Select(p => p.Bounds), Is.All.EqualTo(DurationBuckets), "bucket advice on every duration histogram");
            Assert.That(failed.SumWhere("error.type", "QUOTA") + failed.SumWhere("error.type", "System.InvalidOperationException"), Is.EqualTo(s.Failed).And.EqualTo(2));

            Assert.That(spans, Has.Count.EqualTo(4), "one span per batch");
            Assert.That(spans.Select(a => a.Kind), Is.All.EqualTo(ActivityKind.Client));
            Assert.That(spans.Select(a => a.DisplayName), Is.EqualTo(new[] { "send a", "send", "send a", "send a" }));
            Assert.That(spans[1].GetTagItem("messaging.destination.name"), Is.Null);
            Assert.That(spans.Select(a => a.GetTagItem("messaging.operation.name")), Is.All.EqualTo("send"));
            Assert.That(spans.Select(a => a.GetTagItem("error.type")), Is.EqualTo(new object?[] { null, null, "QUOTA", "System.InvalidOperationException" }));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Tracing_TwoBatchesFailingForDifferentReasons_EachSpanCarriesItsOwnBatchsError(CancellationToken ct)
    {
        string name = NewName();
        using var otel = new OpenTelemetryCapture(name);
        var sink = new TelemetrySink
        {
            FailWhen = m => m.N switch
            {
                1 => new InvalidOperationException("the first batch's reason"),
                3 => new ArgumentException("the second batch's reason"),
                _ => null,
            },
        };
        var block = CreateSut(sink, name, batchSize: 2);
        for (int i = 0; i < 4; i++)
        {
            Assert.That(block.Post(new Message("a", i)), Is.True);
        }

        block.Complete();
        Assert.That(async () => await block.Completion.WaitAsync(ct), Throws.InstanceOf<BatchProducerException>());

        IReadOnlyList<Activity> spans = otel.BatchSpans;
        Assert.That(spans, Has.Count.EqualTo(2));
        Assert.Multiple(() =>
        {
            Assert.That(spans.Select(a => a.Status), Is.All.EqualTo(ActivityStatusCode.Error));
            Assert.That(spans.Select(a => (a.GetTagItem("error.type"), a.StatusDescription)), Is.EqualTo(new[]
            {
                ((object?)"System.InvalidOperationException", (string?)"the first batch's reason"),
                ("System.ArgumentException", "the second batch's reason"),
            }));
            Assert.That(spans.Select(a => a.GetTagItem("dataflowproducer.outcome")), Is.All.EqualTo("partial"));
        });
    }

    [TestCase(AbandonPath.NoOutcome)]
    [TestCase(AbandonPath.SinkReportsAbandoned)]
    [TestCase(AbandonPath.SinkThrows)]
    [CancelAfter(10_000)]
    public async Task Tracing_AbandonedBatch_SpanIsErrorWithTheAbortReasonOnEveryPath(AbandonPath path, CancellationToken ct)
    {
        string name = NewName();
        using var otel = new OpenTelemetryCapture(name);
        var reason = new TimeoutException("stopped by the test");
        var sink = new TelemetrySink
        {
            AcknowledgeImmediately = false,
            AbandonUnacknowledgedOnFlush = path == AbandonPath.SinkReportsAbandoned,
            ThrowOnAccept = path == AbandonPath.SinkThrows ? reason : null,
        };
        var block = CreateSut(sink, name, batchSize: 10);
        for (int i = 0; i < 10; i++)
        {
            Assert.That(block.Post(new Message("a", i)), Is.True);
        }

        if (path != AbandonPath.SinkThrows)
        {
            await sink.WaitForBatchesAsync(1, ct);
            ((IDataflowBlock)block).Fault(reason);
        }

        var error = Assert.ThrowsAsync<BatchProducerException<Message>>(async () => await block.Completion.WaitAsync(ct));

        IReadOnlyList<Activity> spans = otel.BatchSpans;
        var sent = otel.Metric("messaging.client.sent.messages");
        var duration = otel.Metric("messaging.client.operation.duration");
        Assert.That(spans, Has.Count.EqualTo(1));
        Assert.Multiple(() =>
        {
            Assert.That(error!.AbandonedItems, Has.Count.EqualTo(10));
            Assert.That(spans[0].Status, Is.EqualTo(ActivityStatusCode.Error));
            Assert.That(spans[0].StatusDescription, Is.EqualTo("stopped by the test"));
            Assert.That(spans[0].GetTagItem("error.type"), Is.EqualTo("System.TimeoutException"));
            Assert.That(spans[0].GetTagItem("dataflowproducer.outcome"), Is.EqualTo("abandoned"));
            Assert.That(sent.SumWhere("error.type", "System.TimeoutException"), Is.EqualTo(block.GetStatistics().Unknown).And.EqualTo(sent.Sum).And.EqualTo(10), "handed over, outcome unknown: sent, with the reason");
            Assert.That(duration.SumWhere("error.type", "System.TimeoutException"), Is.EqualTo(1).And.EqualTo(duration.Sum));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Metrics_SinkReportsSomeItemsNotSent_ThoseAreNotCountedAsSentAndTheSpanCarriesTheirReason(CancellationToken ct)
    {
        string name = NewName();
        using var otel = new OpenTelemetryCapture(name);
        var sink = new TelemetrySink { Result = _ => BatchResult.Create(null, null, notSent: [5, 6, 7, 8, 9]) };
        var block = CreateSut(sink, name, batchSize: 10);
        for (int i = 0; i < 10; i++)
        {
            Assert.That(block.Post(new Message("a", i)), Is.True);
        }

        block.Complete();
        Assert.That(async () => await block.Completion.WaitAsync(ct), Throws.InstanceOf<BatchProducerException>());

        Activity span = otel.BatchSpans.Single();
        var sent = otel.Metric("messaging.client.sent.messages");
        Assert.Multiple(() =>
        {
            Assert.That(block.GetStatistics().NotSent, Is.EqualTo(5));
            Assert.That((sent.Sum, sent.SumWhere("error.type", null)), Is.EqualTo((5L, 5L)), "never given to the client: not sent");
            Assert.That((span.Status, span.GetTagItem("error.type"), span.GetTagItem("dataflowproducer.outcome")), Is.EqualTo((ActivityStatusCode.Error, (object?)"System.OperationCanceledException", (object?)"partial")));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Tracing_BatchPostedUnderOneActivity_SpanIsItsChildAndLinksToIt(CancellationToken ct)
    {
        string name = NewName();
        using var otel = new OpenTelemetryCapture(name, PosterSource);
        using var posters = new ActivitySource(PosterSource);
        var sink = new TelemetrySink();
        var block = CreateSut(sink, name, batchSize: 4);
        ActivityContext poster;
        using (Activity? activity = posters.StartActivity("job"))
        {
            Assert.That(activity, Is.Not.Null);
            poster = activity!.Context;
            for (int i = 0; i < 4; i++)
            {
                Assert.That(block.Post(new Message("a", i)), Is.True);
            }
        }

        block.Complete();
        await block.Completion.WaitAsync(ct);

        Activity span = otel.BatchSpans.Single();
        Assert.Multiple(() =>
        {
            Assert.That((span.TraceId, span.ParentSpanId), Is.EqualTo((poster.TraceId, poster.SpanId)));
            Assert.That(span.Links.Select(l => l.Context), Is.EqualTo(new[] { poster }), "one link per distinct posting context");
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Tracing_BatchFromSeveralPosters_SpanIsARootLinkedToEachPostersContext(CancellationToken ct)
    {
        string name = NewName();
        using var otel = new OpenTelemetryCapture(name, PosterSource);
        using var posters = new ActivitySource(PosterSource);
        var sink = new TelemetrySink();
        var block = CreateSut(sink, name, batchSize: 4);
        var contexts = new List<ActivityContext>();
        using (Activity? ambient = posters.StartActivity("ambient"))
        {
            // Whatever flow happens to start the produce stage must not become the batch span's parent.
            for (int i = 0; i < 3; i++)
            {
                using Activity? activity = posters.StartActivity($"post {i}", ActivityKind.Internal, parentContext: default);
                contexts.Add(activity!.Context);
                Assert.That(block.Post(new Message("a", i)), Is.True);
            }

            Assert.That(block.Post(new Message("a", 3)), Is.True);
        }

        block.Complete();
        await block.Completion.WaitAsync(ct);

        Activity span = otel.BatchSpans.Single();
        Assert.Multiple(() =>
        {
            Assert.That(span.ParentSpanId, Is.EqualTo(default(ActivitySpanId)), "a root span: the batch shares no one context");
            Assert.That(span.Links.Select(l => l.Context).ToList(), Has.Count.EqualTo(4).And.SupersetOf(contexts));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task Hooks_TelemetryHooksThrow_ItemsDeliveredAndSpanFallsBackToTypeNames(CancellationToken ct)
    {
        string name = NewName();
        using var otel = new OpenTelemetryCapture(name);
        var sink = new TelemetrySink { HooksThrow = true, FailWhen = m => m.N == 1 ? new CodedException("QUOTA") : null };
        var block = CreateSut(sink, name, batchSize: 2);
        Assert.That(block.Post(new Message("a", 0)) && block.Post(new Message("a", 1)), Is.True);
        block.Complete();
        Assert.That(async () => await block.Completion.WaitAsync(ct), Throws.InstanceOf<BatchProducerException>());

        Activity span = otel.BatchSpans.Single();
        Assert.Multiple(() =>
        {
            Assert.That(block.GetStatistics(), Is.EqualTo(new BatchProducerStatistics(2, 1, 1, 1, 0, 0)));
            Assert.That(span.GetTagItem("error.type"), Is.EqualTo(typeof(CodedException).FullName));
            Assert.That((span.DisplayName, span.Links.Count()), Is.EqualTo(("send", 0)));
        });
    }

    private static string NewName() => $"otel-{Guid.NewGuid():N}";

    private static BatchProducerBlock<Message> CreateSut(TelemetrySink sink, string name, int batchSize) =>
        new(sink, new BatchProducerOptions
        {
            BatchSize = batchSize,
            BoundedCapacity = 1000,
            Linger = Timeout.InfiniteTimeSpan,
            FailurePolicy = FailurePolicy.ReportAndContinue,
            TimeProvider = new FakeTimeProvider(),
            Name = name,
        });

    public sealed class Message(string topic, int n)
    {
        public string Topic { get; } = topic;

        public int N { get; } = n;

        public ActivityContext Offered { get; set; }

        public override string ToString() => $"{Topic}/{N}";
    }

    // An error with a low-cardinality code of its own, as a Kafka error has.
    private sealed class CodedException(string code) : Exception($"failed with {code}")
    {
        public string Code { get; } = code;
    }

    // A sink with the telemetry hooks a messaging sink has: a system, a destination per batch, posting contexts, codes.
    private sealed class TelemetrySink : IBatchSink<Message>, IBatchSinkHooks<Message>
    {
        private readonly RecordingBatchSink<Message> _inner = new();

        public Func<Message, Exception?>? FailWhen { init => _inner.FailWhen = value; }

        public bool AcknowledgeImmediately { init => _inner.AcknowledgeImmediately = value; }

        public bool AbandonUnacknowledgedOnFlush { init => _inner.AbandonUnacknowledgedOnFlush = value; }

        public Exception? ThrowOnAccept { init => _inner.ThrowOnAccept = value; }

        public bool HooksThrow { get; init; }

        // The batch's result, instead of the recording sink's.
        public Func<Message[], BatchResult>? Result { get; init; }

        public IReadOnlyList<KeyValuePair<string, object?>> TelemetryTags { get; } = [new("messaging.system", "test")];

        public bool DisposeWhenFinished => false;

        public Task WaitForBatchesAsync(int count, CancellationToken cancellationToken) => _inner.WaitForBatchesAsync(count, cancellationToken);

        public ValueTask<Task<BatchResult>> AcceptAsync(ReadOnlyMemory<Message> batch, CancellationToken cancellationToken) =>
            Result is { } result ? ValueTask.FromResult(Task.FromResult(result(batch.ToArray()))) : _inner.AcceptAsync(batch, cancellationToken);

        public Task FlushAsync(TimeSpan timeout, CancellationToken cancellationToken) => _inner.FlushAsync(timeout, cancellationToken);

        public void OnOffered(Message item) => item.Offered = Activity.Current?.Context ?? default;

        public IReadOnlyList<KeyValuePair<string, object?>> GetBatchTags(IReadOnlyList<Message> batch) =>
            HooksThrow ? throw new InvalidOperationException("GetBatchTags threw")
            : batch.All(m => m.Topic == batch[0].Topic) ? [new("messaging.destination.name", batch[0].Topic)] : [];

        public ActivityContext GetOfferedContext(Message item) => HooksThrow ? throw new InvalidOperationException("GetOfferedContext threw") : item.Offered;

        public string? GetErrorType(Exception exception) =>
            HooksThrow ? throw new InvalidOperationException("GetErrorType threw") : (exception as CodedException)?.Code;
    }
}
