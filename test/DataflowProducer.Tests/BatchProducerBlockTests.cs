using System.Threading.Tasks.Dataflow;
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
        HandBack? handBack = null,
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

    /// <summary>Records what the block hands back through <see cref="BatchProducerCallbacks{T}"/>.</summary>
    private sealed class HandBack
    {
        private readonly object _lock = new();
        private readonly List<(int Item, Exception Error)> _failed = [];
        private readonly List<int> _abandoned = [];
        private readonly List<Exception> _abandonReasons = [];

        public HandBack()
        {
            Callbacks = new BatchProducerCallbacks<int>
            {
                ItemFailed = (item, error) =>
                {
                    lock (_lock)
                    {
                        _failed.Add((item, error));
                    }

                    OnItemFailed?.Invoke(item, error);
                },
                ItemsAbandoned = (items, reason) =>
                {
                    lock (_lock)
                    {
                        _abandoned.AddRange(items);
                        _abandonReasons.Add(reason);
                    }

                    OnItemsAbandoned?.Invoke(items);
                },
            };
        }

        public BatchProducerCallbacks<int> Callbacks { get; }

        public Action<int, Exception>? OnItemFailed { get; set; }

        public Action<IReadOnlyList<int>>? OnItemsAbandoned { get; set; }

        public IReadOnlyList<(int Item, Exception Error)> Failed
        {
            get
            {
                lock (_lock)
                {
                    return [.. _failed];
                }
            }
        }

        public IReadOnlyList<int> Abandoned
        {
            get
            {
                lock (_lock)
                {
                    return [.. _abandoned];
                }
            }
        }

        public IReadOnlyList<Exception> AbandonReasons
        {
            get
            {
                lock (_lock)
                {
                    return [.. _abandonReasons];
                }
            }
        }
    }

    /// <summary>
    /// A substituted <see cref="IBatchSink{T}"/> whose acknowledgements the test completes by hand: every
    /// <c>AcceptAsync</c> call records its batch and returns the task of a fresh <see cref="TaskCompletionSource{T}"/>
    /// (or, with <see cref="AutoAcknowledge"/>, an already completed one). <see cref="WaitForCallsAsync"/> lets a
    /// test wait until the pipeline has handed over a given number of batches.
    /// </summary>
    private sealed class ManualSink
    {
        private readonly object _lock = new();
        private readonly List<int[]> _batches = [];
        private readonly List<TaskCompletionSource<BatchResult>> _acks = [];
        private readonly List<int> _unacknowledgedAtAccept = [];
        private readonly List<(int Count, TaskCompletionSource Reached)> _waiters = [];

        public ManualSink()
        {
            Sink = Substitute.For<IBatchSink<int>>();
            SetupAccept(Sink, call => new ValueTask<Task<BatchResult>>(Accept(call.Arg<ReadOnlyMemory<int>>().ToArray())));
            Sink.FlushAsync(Arg.Any<TimeSpan>(), Arg.Any<CancellationToken>()).Returns(Task.CompletedTask);
        }

        public IBatchSink<int> Sink { get; }

        /// <summary>When set, each batch is acknowledged at once with the result this returns.</summary>
        public Func<int[], BatchResult>? AutoAcknowledge { get; set; }

        public IReadOnlyList<int[]> Batches
        {
            get
            {
                lock (_lock)
                {
                    return [.. _batches];
                }
            }
        }

        public IReadOnlyList<int> Items => [.. Batches.SelectMany(static b => b)];

        /// <summary>For each call, how many earlier acknowledgements were still incomplete when it was made.</summary>
        public IReadOnlyList<int> UnacknowledgedAtAccept
        {
            get
            {
                lock (_lock)
                {
                    return [.. _unacknowledgedAtAccept];
                }
            }
        }

        public TaskCompletionSource<BatchResult> Ack(int call)
        {
            lock (_lock)
            {
                return _acks[call];
            }
        }

        public Task WaitForCallsAsync(int count, CancellationToken ct)
        {
            var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_lock)
            {
                if (_batches.Count >= count)
                {
                    return Task.CompletedTask;
                }

                _waiters.Add((count, reached));
            }

            return reached.Task.WaitAsync(ct);
        }

        private Task<BatchResult> Accept(int[] batch)
        {
            var ack = new TaskCompletionSource<BatchResult>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (AutoAcknowledge is { } auto)
            {
                ack.SetResult(auto(batch));
            }

            List<TaskCompletionSource> reached = [];
            lock (_lock)
            {
                _unacknowledgedAtAccept.Add(_acks.Count(static a => !a.Task.IsCompleted));
                _batches.Add(batch);
                _acks.Add(ack);
                _waiters.RemoveAll(w =>
                {
                    if (w.Count > _batches.Count)
                    {
                        return false;
                    }

                    reached.Add(w.Reached);
                    return true;
                });
            }

            reached.ForEach(static r => r.TrySetResult());
            return ack.Task;
        }
    }
}
