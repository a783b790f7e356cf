using System.Diagnostics;
using System.Text;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Tests.Shared;

namespace DataflowProducer.Kafka.Tests.Integration;

[Category(TestCategories.Integration)]
[NonParallelizable]
public class TracingMockClusterTests
{
    [Test, CancelAfter(60_000)]
    public async Task Create_InjectTraceContext_ReadBackHeadersCarryThePostersTraceparentAndSpansAreKafkaTagged(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        string topic = $"trace-{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, 4);

        var spans = new List<Activity>();
        using var posterSource = new ActivitySource("DataflowProducer.Tests.Poster");
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "DataflowProducer" or "DataflowProducer.Tests.Poster",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity => { lock (spans) { spans.Add(activity); } },
        };
        ActivitySource.AddActivityListener(listener);

        var block = KafkaProducerBlock.Create(
            new ProducerConfig { BootstrapServers = cluster.BootstrapServers },
            new KafkaSinkOptions<string, string> { DefaultTopic = topic, InjectTraceContext = true },
            new BatchProducerOptions { BatchSize = 10, Linger = TimeSpan.FromMilliseconds(10), Name = topic });

        var expected = new Dictionary<string, string>();
        for (int i = 0; i < 30; i++)
        {
            using Activity? poster = posterSource.StartActivity($"post {i}");
            Assert.That(poster, Is.Not.Null);
            expected[$"v{i}"] = poster!.Id!;
            Assert.That(await block.SendAsync(new KafkaRecord<string, string>($"k{i}", $"v{i}"), ct), Is.True);
        }

        Assert.That(await block.SendAsync(new KafkaRecord<string, string>("k-untraced", "untraced"), ct), Is.True);
        block.Complete();
        await block.Completion.WaitAsync(ct);

        var read = TopicReader.ReadAll(cluster.BootstrapServers, topic, TimeSpan.FromSeconds(30));
        var traceparents = read.ToDictionary(
            r => Encoding.UTF8.GetString(r.Message.Value!),
            r => r.Message.Headers.TryGetLastBytes("traceparent", out byte[] bytes) ? Encoding.UTF8.GetString(bytes) : null);
        List<Activity> batchSpans;
        lock (spans)
        {
            batchSpans = spans.Where(a => a.Source.Name == "DataflowProducer" && (string?)a.GetTagItem("dataflowproducer.pipeline.name") == topic).ToList();
        }

        Assert.Multiple(() =>
        {
            foreach (var (value, id) in expected)
            {
                Assert.That(traceparents[value], Is.EqualTo(id), $"traceparent of {value}");
            }

            Assert.That(traceparents["untraced"], Is.Null, "a record posted with no current activity gets no traceparent");
            Assert.That(batchSpans, Is.Not.Empty);
            Assert.That(batchSpans.Sum(a => (int)a.GetTagItem("messaging.batch.message_count")!), Is.EqualTo(31), "one span per batch, covering every record");
            Assert.That(batchSpans.Select(a => a.GetTagItem("messaging.system")), Is.All.EqualTo("kafka"));
            Assert.That(batchSpans.Select(a => a.GetTagItem("messaging.destination.name")), Is.All.EqualTo(topic));
            Assert.That(batchSpans.Select(a => a.DisplayName), Is.All.EqualTo($"send {topic}"));
            Assert.That(batchSpans.Select(a => a.GetTagItem("dataflowproducer.outcome")), Is.All.EqualTo("delivered"));
        });
    }
}
