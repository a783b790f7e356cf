using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Tests.Shared;
using OpenTelemetry.Metrics;

namespace DataflowProducer.Kafka.Tests.Integration;

// The Kafka pipeline's telemetry read through the real OpenTelemetry SDK (in-memory exporters), over the mock cluster:
// the messaging conventions' instruments and attributes, each span's own error, links, and the headers' contexts.
[Category(TestCategories.Integration)]
[NonParallelizable]
public class OpenTelemetryMockClusterTests
{
    private const string PosterSource = "DataflowProducer.Kafka.Tests.Poster";

    private static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    [Test, CancelAfter(60_000)]
    public async Task Create_TwoBatchesFailingForDifferentReasons_EachSpanAndMeasurementCarriesItsOwnError(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(1);
        string topic = $"otel-errors-{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, 2);
        using var otel = new OpenTelemetryCapture(topic);
        var block = KafkaProducerBlock.Create(
            new ProducerConfig { BootstrapServers = cluster.BootstrapServers, LingerMs = 5, MessageMaxBytes = 100_000 },
            new KafkaSinkOptions<string, string> { DefaultTopic = topic },
            Options(topic, batchSize: 2));

        // Batch 1: an invalid topic name (refused by the sink). Batch 2: a value over message.max.bytes (by the client).
        Assert.That(await block.SendAsync(new KafkaRecord<string, string>("k0", "v0"), ct), Is.True);
        Assert.That(await block.SendAsync(new KafkaRecord<string, string>("k1", "v1", "bad topic!"), ct), Is.True);
        Assert.That(await block.SendAsync(new KafkaRecord<string, string>("k2", "v2"), ct), Is.True);
        Assert.That(await block.SendAsync(new KafkaRecord<string, string>("k3", new string('x', 200_000)), ct), Is.True);
        block.Complete();
        Assert.That(async () => await block.Completion.WaitAsync(ct), Throws.InstanceOf<BatchProducerException>());
        BatchProducerStatistics s = block.GetStatistics();

        IReadOnlyList<Activity> spans = otel.BatchSpans;
        var sent = otel.Metric("messaging.client.sent.messages");
        var failed = otel.Metric("dataflowproducer.messages.failed");
        var duration = otel.Metric("messaging.client.operation.duration");
        Assert.That(spans, Has.Count.EqualTo(2));
        Assert.Multiple(() =>
        {
            Assert.That(s, Is.EqualTo(new BatchProducerStatistics(4, 2, 2, 2, 0, 0)));
            Assert.That(spans.Select(a => a.Status), Is.All.EqualTo(ActivityStatusCode.Error));
            Assert.That(spans.Select(a => a.GetTagItem("error.type")), Is.EqualTo(new[] { "System.ArgumentException", "MsgSizeTooLarge" }), "each span its own batch's error: the type name, or Kafka's error code");
            Assert.That(spans[0].StatusDescription, Does.Contain("bad topic!"));
            Assert.That(spans[1].StatusDescription, Does.Contain("too large").IgnoreCase);
            Assert.That(spans.Select(a => a.DisplayName), Is.EqualTo(new[] { "send", $"send {topic}" }), "a destination only for the batch whose records all go there");
            Assert.That(spans.Select(a => a.GetTagItem("messaging.destination.name")), Is.EqualTo(new object?[] { null, topic }));

            Assert.That(sent.SumWhere("error.type", null), Is.EqualTo(s.Delivered));
            Assert.That(sent.SumWhere("error.type", "System.ArgumentException"), Is.EqualTo(1));
            Assert.That(sent.SumWhere("error.type", "MsgSizeTooLarge"), Is.EqualTo(1));
            Assert.That(failed.SumWhere("error.type", "System.ArgumentException") + failed.SumWhere("error.type", "MsgSizeTooLarge"), Is.EqualTo(s.Failed), "the library's own counter names errors the same way");
            Assert.That(duration.Points.Select(p => p.Tags.GetValueOrDefault("error.type")), Is.EquivalentTo(new[] { "System.ArgumentException", "MsgSizeTooLarge" }));
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Create_PostedUnderActivities_ConventionMetricsEqualStatisticsSpansLinkToThePostersAndHeadersCarryThem(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(1);
        string topic = $"otel-trace-{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, 4);
        using var otel = new OpenTelemetryCapture(topic, PosterSource);
        using var posters = new ActivitySource(PosterSource);
        var block = KafkaProducerBlock.Create(
            new ProducerConfig { BootstrapServers = cluster.BootstrapServers, LingerMs = 5 },
            new KafkaSinkOptions<string, string> { DefaultTopic = topic, InjectTraceContext = true },
            Options(topic, batchSize: 10));

        var posterOf = new Dictionary<string, ActivityContext>();
        for (int i = 0; i < 20; i++)
        {
            using Activity? poster = posters.StartActivity($"post {i}", ActivityKind.Internal, parentContext: default);
            Assert.That(poster, Is.Not.Null);
            if (i == 7)
            {
                poster!.AddBaggage("tenant", "t1");
            }

            posterOf[$"v{i}"] = poster!.Context;
            Assert.That(await block.SendAsync(new KafkaRecord<string, string>($"k{i}", $"v{i}"), ct), Is.True);
        }

        Assert.That(await block.SendAsync(new KafkaRecord<string, string>("k-untraced", "untraced"), ct), Is.True);
        block.Complete();
        await block.Completion.WaitAsync(ct);
        BatchProducerStatistics s = block.GetStatistics();

        var read = TopicReader.ReadAll(cluster.BootstrapServers, topic, TimeSpan.FromSeconds(30));
        var headers = read.ToDictionary(r => Encoding.UTF8.GetString(r.Message.Value!), r => r.Message.Headers);
        IReadOnlyList<Activity> spans = otel.BatchSpans;
        var sent = otel.Metric("messaging.client.sent.messages");
        var duration = otel.Metric("messaging.client.operation.duration");
        string[] server = cluster.BootstrapServers.Split(':');
        Assert.Multiple(() =>
        {
            Assert.That(read, Has.Count.EqualTo(21));
            foreach (var (value, poster) in posterOf)
            {
                Assert.That(Header(headers[value], "traceparent"), Is.EqualTo($"00-{poster.TraceId}-{poster.SpanId}-01"), $"the poster's context in the headers of {value}");
            }

            Assert.That(Header(headers["v7"], "baggage"), Does.Match(@"^tenant\s*=\s*t1$"), "the poster's baggage goes along (W3C baggage allows spaces around =)");
            Assert.That(Header(headers["v8"], "baggage"), Is.Null);
            Assert.That(Header(headers["untraced"], "traceparent"), Is.Null, "a record posted with no current activity gets no context");

            Assert.That(spans, Has.Count.EqualTo(s.Batches).And.Count.EqualTo(3), "one span per batch");
            Assert.That(spans.Sum(a => (int)a.GetTagItem("messaging.batch.message_count")!), Is.EqualTo(21));
            Assert.That(spans.Select(a => a.Kind), Is.All.EqualTo(ActivityKind.Client), "the headers carry the posters' contexts, not the send span's");
            Assert.That(spans.Select(a => a.ParentSpanId), Is.All.EqualTo(default(ActivitySpanId)), "no batch shares one poster: roots");
            Assert.That(spans.SelectMany(a => a.Links).Select(l => l.Context), Is.EquivalentTo(posterOf.Values), "a link to each record's posting context, the one in its headers");
            Assert.That(spans.Select(a => (a.GetTagItem("messaging.system"), a.GetTagItem("messaging.destination.name"), a.GetTagItem("messaging.operation.name"), a.GetTagItem("messaging.operation.type"))), Is.All.EqualTo(((object?)"kafka", (object?)topic, (object?)"send", (object?)"send")));
            Assert.That(spans.Select(a => (a.GetTagItem("server.address"), a.GetTagItem("server.port"))), Is.All.EqualTo(((object?)server[0], (object?)int.Parse(server[1], CultureInfo.InvariantCulture))));
            Assert.That(spans.Select(a => a.GetTagItem("messaging.client.id") as string), Is.All.StartsWith("rdkafka#producer-"));

            Assert.That((sent.Type, sent.Unit, sent.Sum), Is.EqualTo(((MetricType?)MetricType.LongSum, "{message}", s.Delivered)));
            Assert.That(s.Delivered, Is.EqualTo(21));
            Assert.That((duration.Type, duration.Unit, duration.Sum), Is.EqualTo(((MetricType?)MetricType.Histogram, "s", s.Batches)));
            Assert.That(duration.Points.Select(p => p.Bounds), Is.All.EqualTo(DurationBuckets));
            foreach (var point in sent.Points.Concat(duration.Points))
            {
                Assert.That(
                    (point.Tags["messaging.system"], point.Tags["messaging.operation.name"], point.Tags["messaging.operation.type"], point.Tags["messaging.destination.name"], point.Tags["server.address"], point.Tags.ContainsKey("error.type")),
                    Is.EqualTo(((object?)"kafka", (object?)"send", (object?)"send", (object?)topic, (object?)server[0], false)));
            }
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Create_EveryRecordToOnePartition_PartitionIdOnTheSpanAndMeasurements(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        string topic = $"otel-partition-{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, 4);
        using var otel = new OpenTelemetryCapture(topic);
        var block = KafkaProducerBlock.Create(
            new ProducerConfig { BootstrapServers = cluster.BootstrapServers, LingerMs = 5 },
            new KafkaSinkOptions<string, string> { DefaultTopic = topic },
            Options(topic, batchSize: 5));
        for (int i = 0; i < 10; i++)
        {
            // The first batch all to partition 2; the second to partitions 2 and 3.
            var record = new KafkaRecord<string, string>($"k{i}", $"v{i}") { Partition = new Partition(i < 5 || i % 2 == 0 ? 2 : 3) };
            Assert.That(await block.SendAsync(record, ct), Is.True);
        }

        block.Complete();
        await block.Completion.WaitAsync(ct);

        IReadOnlyList<Activity> spans = otel.BatchSpans;
        var sent = otel.Metric("messaging.client.sent.messages");
        Assert.Multiple(() =>
        {
            Assert.That(spans.Select(a => a.GetTagItem("messaging.destination.partition.id")), Is.EqualTo(new object?[] { "2", null }));
            Assert.That(sent.SumWhere("messaging.destination.partition.id", "2"), Is.EqualTo(5));
            Assert.That(sent.SumWhere("messaging.destination.partition.id", null), Is.EqualTo(5));
            Assert.That(spans.Select(a => a.GetTagItem("server.address")), Is.All.Null, "three bootstrap servers: none of them is the server");
        });
    }

    private static string? Header(Headers headers, string name) =>
        headers.TryGetLastBytes(name, out byte[] bytes) ? Encoding.UTF8.GetString(bytes) : null;

    private static BatchProducerOptions Options(string name, int batchSize) => new()
    {
        BatchSize = batchSize,
        Linger = Timeout.InfiniteTimeSpan,
        FailurePolicy = FailurePolicy.ReportAndContinue,
        Name = name,
    };
}
