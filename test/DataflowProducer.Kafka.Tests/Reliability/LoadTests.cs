using System.Diagnostics;
using System.Threading.Tasks.Dataflow;
using Confluent.Kafka;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Kafka.Tests.TestSupport;

namespace DataflowProducer.Kafka.Tests.Reliability;

/// <summary>Eight posters race a Complete() that another thread calls at a random (seeded) moment: whatever SendAsync
/// accepted must be written, exactly, and nothing may fail or be abandoned. One mock cluster for all repetitions, a
/// fresh GUID-named topic per repetition; counts come from the sum of high watermarks, which stays exact while the mock
/// cluster drops old records to keep about 5 MB per partition.</summary>
[Category("Load")]
public class LoadTests
{
    private const int Posters = 8;
    private const int PerPoster = 100_000;
    private const int Repetitions = 20;
    private const int Seed = 20_261_127;
    private static readonly TimeSpan CountTimeout = TimeSpan.FromSeconds(30);

    [Test, CancelAfter(600_000)]
    public async Task SendAsync_8PostersWithCompleteAtRandomMoment_AcceptedEqualsDeliveredEqualsWritten(CancellationToken ct)
    {
        using var cluster = MockKafkaCluster.Start(3);
        var random = new Random(Seed);
        var total = Stopwatch.StartNew();
        long allAccepted = 0;
        long allWritten = 0;
        var sum = default(BatchProducerStatistics);
        TestContext.Out.WriteLine($"seed {Seed}: rep, complete after, accepted, delivered, written, seconds");
        for (int rep = 0; rep < Repetitions; rep++)
        {
            // Anywhere from before the first post to after the last one (then Complete comes after all 800,000).
            long completeAfter = random.NextInt64(0, (Posters * PerPoster) + (Posters * PerPoster / 10));
            var result = await RunOnceAsync(cluster, completeAfter, ct);
            allAccepted += result.Accepted;
            allWritten += result.Written;
            sum = new BatchProducerStatistics(sum.Accepted + result.Statistics.Accepted, sum.Batches + result.Statistics.Batches, sum.Delivered + result.Statistics.Delivered, sum.Failed + result.Statistics.Failed, sum.Abandoned + result.Statistics.Abandoned, 0);
            TestContext.Out.WriteLine($"{rep,2}, {completeAfter,7}, {result.Accepted,7}, {result.Statistics.Delivered,7}, {result.Written,7}, {result.Seconds:F1}");
            Assert.Multiple(() =>
            {
                Assert.That(result.Statistics.Accepted, Is.EqualTo(result.Accepted), $"rep {rep}: Accepted vs SendAsync returning true");
                Assert.That(result.Statistics.Delivered, Is.EqualTo(result.Accepted), $"rep {rep}: delivered");
                Assert.That(result.Written, Is.EqualTo(result.Accepted), $"rep {rep}: written (sum of high watermarks)");
                Assert.That(result.Statistics.Failed + result.Statistics.Abandoned, Is.Zero, $"rep {rep}: failed/abandoned {result.Statistics}");
                Assert.That(result.Outcomes.Failed, Is.Empty, $"rep {rep}: ItemFailed");
                Assert.That(result.Outcomes.Abandoned, Is.Empty, $"rep {rep}: ItemsAbandoned");
                Assert.That(result.Completion, Is.Null, $"rep {rep}: Completion should succeed");
            });
        }

        TestContext.Out.WriteLine($"{Repetitions} repetitions, {allAccepted} messages accepted and written, in {total.Elapsed.TotalSeconds:F1} s");
        ScenarioReport.Print(TestContext.Out, $"Load 8 x 100,000 x {Repetitions}, Complete at a random moment", Repetitions * Posters * PerPoster, sum, allWritten, allWritten, note: "messages = posted attempts; the rest were declined after Complete (SendAsync false), as they must be");
    }

    private static async Task<RunResult> RunOnceAsync(MockKafkaCluster cluster, long completeAfter, CancellationToken ct)
    {
        string topic = $"load-{Guid.NewGuid():N}";
        cluster.CreateTopic(topic, partitions: 4);
        var outcomes = new Outcomes<KafkaRecord<Null, string>>();
        var block = KafkaProducerBlock.Create(
            new ProducerConfig { BootstrapServers = cluster.BootstrapServers, LingerMs = 5 },
            new KafkaSinkOptions<Null, string> { DefaultTopic = topic },
            new BatchProducerOptions { BatchSize = 1000, Linger = TimeSpan.FromMilliseconds(20) },
            outcomes.Callbacks);
        var stopwatch = Stopwatch.StartNew();
        long accepted = 0;
        long attempted = 0;
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // The completer is a thread of its own, woken by whichever poster makes the completeAfter-th attempt.
        var completer = new Thread(() =>
        {
            try
            {
                reached.Task.Wait(ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            block.Complete();
        })
        { IsBackground = true, Name = "completer" };
        completer.Start();
        if (completeAfter == 0)
        {
            reached.TrySetResult();
        }

        var posters = Enumerable.Range(0, Posters).Select(p => Task.Run(
            async () =>
            {
                for (int i = 0; i < PerPoster; i++)
                {
                    if (Interlocked.Increment(ref attempted) == completeAfter)
                    {
                        reached.TrySetResult();
                    }

                    if (!await block.SendAsync(new KafkaRecord<Null, string> { Value = $"p{p}-{i}" }, ct))
                    {
                        return;
                    }

                    Interlocked.Increment(ref accepted);
                }
            },
            ct)).ToArray();
        await Task.WhenAll(posters);
        reached.TrySetResult();
        Exception? completion = await Records.ExceptionOf(block.Completion.WaitAsync(ct));
        completer.Join();
        long written = TopicReader.SumHighWatermarks(cluster.BootstrapServers, topic, CountTimeout);
        return new RunResult(Interlocked.Read(ref accepted), block.GetStatistics(), written, outcomes, completion, stopwatch.Elapsed.TotalSeconds);
    }

    private sealed record RunResult(long Accepted, BatchProducerStatistics Statistics, long Written, Outcomes<KafkaRecord<Null, string>> Outcomes, Exception? Completion, double Seconds);
}
