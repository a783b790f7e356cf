using System.Text;
using System.Threading.Tasks.Dataflow;
using DataflowProducer.Kafka;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Tests.Shared;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace DataflowProducer.Hosting.Tests;

[Category(TestCategories.Integration)]
public class HostShutdownTests
{
    [Test, CancelAfter(60_000)]
    public async Task StopAsync_WorkerPostingContinuously_EveryAcceptedMessageIsReadBack(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        string topic = $"host-{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, 4);

        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddKafkaProducerBlock<string, string>("orders", o =>
        {
            o.DefaultTopic = topic;
            o.BatchSize = 200;
            o.Linger = TimeSpan.FromMilliseconds(10);
            o.Producer["bootstrap.servers"] = cluster.BootstrapServers;
        });
        builder.Services.AddHostedService(sp => new PostingWorker(sp.GetRequiredKeyedService<ITargetBlock<KafkaRecord<string, string>>>("orders")));

        using IHost host = builder.Build();
        await host.StartAsync(ct);
        var worker = host.Services.GetServices<IHostedService>().OfType<PostingWorker>().Single();
        await worker.FirstThousandPosted.WaitAsync(ct);
        await host.StopAsync(ct);

        var block = host.Services.GetRequiredKeyedService<BatchProducerBlock<KafkaRecord<string, string>>>("orders");
        await block.Completion.WaitAsync(ct);
        BatchProducerStatistics stats = block.GetStatistics();
        var read = TopicReader.ReadAll(cluster.BootstrapServers, topic, TimeSpan.FromSeconds(30));

        Assert.Multiple(() =>
        {
            Assert.That(stats.Accepted, Is.EqualTo(worker.Accepted));
            Assert.That(stats.Delivered, Is.EqualTo(stats.Accepted));
            Assert.That(read, Has.Count.EqualTo(stats.Accepted));
            Assert.That(read.Select(r => Encoding.UTF8.GetString(r.Message.Value!)), Is.Unique);
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task StopAsync_BrokersDownAndTinyShutdownTimeout_AbandonedReachCallbackAndCountsAreLogged(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        string topic = $"host-{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, 4);

        var abandoned = new List<KafkaRecord<string, string>>();
        var collector = new FakeLogCollector();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new FakeLoggerProvider(collector));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(500));
        builder.Services.AddKafkaProducerBlock<string, string>(
            "orders",
            o =>
            {
                o.DefaultTopic = topic;
                o.BatchSize = 50;
                o.Linger = TimeSpan.FromMilliseconds(5);
                o.Producer["bootstrap.servers"] = cluster.BootstrapServers;
            },
            _ => new BatchProducerCallbacks<KafkaRecord<string, string>> { ItemsAbandoned = (items, _) => { lock (abandoned) { abandoned.AddRange(items); } } });

        using IHost host = builder.Build();
        await host.StartAsync(ct);
        var block = host.Services.GetRequiredKeyedService<BatchProducerBlock<KafkaRecord<string, string>>>("orders");

        cluster.SetAllBrokersDown();
        for (int i = 0; i < 500; i++)
        {
            Assert.That(await block.SendAsync(new KafkaRecord<string, string>($"k{i}", $"v{i}"), ct), Is.True);
        }

        await host.StopAsync(ct);
        Assert.That(async () => await block.Completion.WaitAsync(ct), Throws.InstanceOf<BatchProducerException>());

        BatchProducerStatistics stats = block.GetStatistics();
        var incomplete = collector.GetSnapshot().Where(r => r.Id.Id == 3003).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(stats.Accepted, Is.EqualTo(500));
            Assert.That(stats.Delivered + stats.Failed + stats.Abandoned, Is.EqualTo(stats.Accepted));
            Assert.That(stats.Abandoned, Is.GreaterThan(0));
            Assert.That(abandoned, Has.Count.EqualTo(stats.Abandoned));
            Assert.That(abandoned.Select(r => r.Value), Is.Unique);
            Assert.That(incomplete, Has.Count.EqualTo(1));
            Assert.That(incomplete[0].Level, Is.EqualTo(LogLevel.Error));
            Assert.That(incomplete[0].Message, Does.Contain($"{stats.Abandoned} abandoned"));
        });
    }

    private sealed class PostingWorker(ITargetBlock<KafkaRecord<string, string>> target) : BackgroundService
    {
        private readonly TaskCompletionSource _firstThousand = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _accepted;

        public Task FirstThousandPosted => _firstThousand.Task;

        public long Accepted => Interlocked.Read(ref _accepted);

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            for (long i = 0; !stoppingToken.IsCancellationRequested; i++)
            {
                bool accepted;
                try
                {
                    accepted = await target.SendAsync(new KafkaRecord<string, string>($"k{i % 13}", $"v{i}"), stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                if (accepted && Interlocked.Increment(ref _accepted) == 1000)
                {
                    _firstThousand.TrySetResult();
                }
            }
        }
    }
}
