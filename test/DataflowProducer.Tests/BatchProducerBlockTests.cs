using System.Threading.Tasks.Dataflow;
using DataflowProducer.Tests.TestSupport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using NSubstitute;
using NSubstitute.Core;

namespace DataflowProducer.Tests;

// Unit tests for BatchProducerBlock<T>, split by topic into BatchProducerBlockTests.*.cs. Time is always a
// FakeTimeProvider with a one-hour linger, so batches are cut only by count, Complete() or an explicit Advance. The
// pipeline works on the thread pool, so tests wait for conditions only by awaiting tasks: Completion, SendAsync,
// or a TaskCompletionSource the substituted sink completes when it is called.
public partial class BatchProducerBlockTests
{
    private static readonly TimeSpan Hour = TimeSpan.FromHours(1);
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(30);

    private static BatchProducerOptions Options(
        TimeProvider? time = null,
        int batchSize = 10,
        int boundedCapacity = 1000,
        int maxInFlightBatches = 8,
        FailurePolicy failurePolicy = FailurePolicy.ReportAndContinue,
        CancellationToken? cancellationToken = null) =>
        new()
        {
            BatchSize = batchSize,
            Linger = Hour,
            BoundedCapacity = boundedCapacity,
            MaxInFlightBatches = maxInFlightBatches,
            DrainTimeout = DrainTimeout,
            FailurePolicy = failurePolicy,
            CancellationToken = cancellationToken ?? CancellationToken.None,
            TimeProvider = time ?? new FakeTimeProvider(),
        };

    private static BatchProducerBlock<int> CreateSut(
        IBatchSink<int> sink,
        BatchProducerOptions? options = null,
        HandBackRecorder? handBack = null,
        ILogger<BatchProducerBlock<int>>? logger = null) =>
        new(sink, options ?? Options(), handBack?.Callbacks, logger);

    private static void PostAll(BatchProducerBlock<int> block, IEnumerable<int> items)
    {
        foreach (int item in items)
        {
            Assert.That(block.Post(item), Is.True, $"Post({item})");
        }
    }

    // NSubstitute configures and checks a call by making it, so the ValueTask these calls return is never awaited.
#pragma warning disable CA2012
    private static void SetupAccept(IBatchSink<int> sink, Func<CallInfo, ValueTask<Task<BatchResult>>> accept) =>
        sink.AcceptAsync(Arg.Any<ReadOnlyMemory<int>>(), Arg.Any<CancellationToken>()).Returns(accept);

    private static void WhenAccepting(IBatchSink<int> sink, Action<CallInfo> action) =>
        sink.When(s => s.AcceptAsync(Arg.Any<ReadOnlyMemory<int>>(), Arg.Any<CancellationToken>())).Do(action);

    private static void AssertAcceptCalls(IBatchSink<int> sink, int count) =>
        sink.Received(count).AcceptAsync(Arg.Any<ReadOnlyMemory<int>>(), Arg.Any<CancellationToken>());
#pragma warning restore CA2012

    private static void Fault(BatchProducerBlock<int> block, Exception exception) => ((IDataflowBlock)block).Fault(exception);

    // Awaits a task that must fail and returns its exception (null when it succeeded).
    private static async Task<Exception?> ExceptionOf(Task task, CancellationToken ct)
    {
        try
        {
            await task.WaitAsync(ct);
            return null;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return ex;
        }
    }

    private static async Task<BatchProducerException<int>> CompletionFault(BatchProducerBlock<int> block, CancellationToken ct)
    {
        Exception? ex = await ExceptionOf(block.Completion, ct);
        Assert.That(ex, Is.TypeOf<BatchProducerException<int>>(), "Completion should end faulted with BatchProducerException<int>.");
        return (BatchProducerException<int>)ex!;
    }

    /// <summary>Accepted &gt;= Delivered + Failed + Abandoned + InFlight, at any time.</summary>
    private static void AssertRunningInvariant(BatchProducerStatistics s) =>
        Assert.That(s.Accepted, Is.GreaterThanOrEqualTo(s.Delivered + s.Failed + s.Abandoned + s.InFlight), $"Running invariant broken: {s}");

    /// <summary>Accepted == Delivered + Failed + Abandoned and nothing in flight, once Completion has finished.</summary>
    private static void AssertFinalInvariant(BatchProducerStatistics s) =>
        Assert.Multiple(() =>
        {
            Assert.That(s.Accepted, Is.EqualTo(s.Delivered + s.Failed + s.Abandoned), $"Final invariant broken: {s}");
            Assert.That(s.InFlight, Is.Zero, $"Nothing may be in flight after completion: {s}");
        });
}
