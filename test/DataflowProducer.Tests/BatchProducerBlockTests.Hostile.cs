using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Tasks.Dataflow;
using DataflowProducer.Diagnostics;
using DataflowProducer.Tests.TestSupport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace DataflowProducer.Tests;

// Hostile plug-ins (DESIGN 4.14, 4.15): loggers, callbacks, sinks and listeners that throw, fault, return null,
// cancel, block their thread or never finish. Whatever they do, Completion ends within DrainTimeout plus the bounded
// settle time (measured on the fake clock), nothing escapes to the caller or to a timer thread, the counts are exact,
// and every failed or abandoned item has been handed back by the time Completion ends.
public partial class BatchProducerBlockTests
{
    private const int HostileItems = 25;
    private static readonly TimeSpan HostileDrain = TimeSpan.FromSeconds(2);

    // The drain timeout, then the pipeline's settle time after an abort (5 s), then one step of the fake clock.
    private static readonly TimeSpan HostileBound = HostileDrain + TimeSpan.FromSeconds(6);

    public enum Scenario
    {
        Complete,
        Fault,
        Cancel,
        DrainTimeout,
    }

    public enum LoggerKind
    {
        ThrowsAlways,
        ThrowsAtWarningAndAbove,
        ThrowsOnItemsAbandoned,
        IsEnabledThrows,
        ProviderThrows,
    }

    [Test, CancelAfter(20_000)]
    public async Task HostileLogger_AnyScenario_ContractHolds(
        [Values] LoggerKind kind,
        [Values] Scenario scenario,
        CancellationToken ct)
    {
        using ILoggerFactory? factory = kind == LoggerKind.ProviderThrows
            ? LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(new ThrowingLoggerProvider()))
            : null;
        ILogger<BatchProducerBlock<int>> logger = kind switch
        {
            LoggerKind.ThrowsAlways => new ThrowingLogger(static (_, _) => true),
            LoggerKind.ThrowsAtWarningAndAbove => new ThrowingLogger(static (level, _) => level >= LogLevel.Warning),
            LoggerKind.ThrowsOnItemsAbandoned => new ThrowingLogger(static (_, id) => id.Id == 1007),
            LoggerKind.IsEnabledThrows => new ThrowingLogger(static (_, _) => false, isEnabledThrows: true),
            _ => factory!.CreateLogger<BatchProducerBlock<int>>(),
        };
        using var sink = new HostileSink(scenario == Scenario.Complete ? HostileAccept.FailEveryThird : HostileAccept.AcknowledgementNever);
        using var run = new HostileRun(sink, logger: logger);

        HostileOutcome outcome = await run.RunAsync(scenario, ct);

        AssertHostileContract(outcome);
        if (scenario != Scenario.Complete)
        {
            Assert.That(outcome.Statistics.Abandoned, Is.Positive, "the scenario abandons items, so the throwing log lines were reached");
        }
    }

    [TestCase(HostileAccept.Throw)]
    [TestCase(HostileAccept.Faulted)]
    [TestCase(HostileAccept.NullAcknowledgement)]
    [TestCase(HostileAccept.NullResult)]
    [TestCase(HostileAccept.AcknowledgementFaults)]
    [TestCase(HostileAccept.AcknowledgementCanceled)]
    [TestCase(HostileAccept.AcknowledgementNever)]
    [TestCase(HostileAccept.IndexOutOfRange)]
    [TestCase(HostileAccept.BlockThread)]
    [TestCase(HostileAccept.IgnoreCancellation)]
    [CancelAfter(20_000)]
    public async Task HostileSinkAccept_Complete_ContractHolds(HostileAccept accept, CancellationToken ct)
    {
        using var sink = new HostileSink(accept);
        using var run = new HostileRun(sink);

        HostileOutcome outcome = await run.RunAsync(Scenario.Complete, ct);

        AssertHostileContract(outcome);
    }

    [Test, CancelAfter(20_000)]
    public async Task HostileSinkFlush_AnyScenario_ContractHolds(
        [Values] HostileFlush flush,
        [Values(Scenario.Complete, Scenario.Fault, Scenario.DrainTimeout)] Scenario scenario,
        CancellationToken ct)
    {
        using var sink = new HostileSink(scenario == Scenario.Complete ? HostileAccept.Deliver : HostileAccept.AcknowledgementNever, flush);
        using var run = new HostileRun(sink);

        HostileOutcome outcome = await run.RunAsync(scenario, ct);

        AssertHostileContract(outcome);
    }

    [Test, CancelAfter(20_000)]
    public async Task DrainTimeout_FlushBlocksItsThread_CompletionComesAtTheDrainTimeout(CancellationToken ct)
    {
        // A flush that blocks its thread far past the drain timeout (the issue's 2 s drain, 20 s flush): the drain
        // timeout still ends the pipeline, and the flush is not called a second time.
        using var sink = new HostileSink(HostileAccept.Deliver, HostileFlush.BlockThread);
        using var run = new HostileRun(sink);

        HostileOutcome outcome = await run.RunAsync(Scenario.DrainTimeout, ct);

        AssertHostileContract(outcome);
        Assert.Multiple(() =>
        {
            Assert.That(outcome.Exception, Is.TypeOf<BatchProducerException<int>>().With.Message.Contain("drain timeout"));
            Assert.That(outcome.Statistics.Delivered, Is.EqualTo(HostileItems), "everything was delivered before the flush");
            Assert.That(sink.Flushes, Is.EqualTo(1), "the flush is called once");
        });
    }

    public enum CallbackKind
    {
        ItemFailedThrows,
        ItemFailedFaultsBlock,
        ItemFailedCompletesBlock,
        ItemsAbandonedThrows,
        ItemsAbandonedFaultsBlock,
        ItemsAbandonedCompletesBlock,
    }

    [Test, CancelAfter(20_000)]
    public async Task HostileCallback_AnyScenario_ContractHolds(
        [Values] CallbackKind kind,
        [Values(Scenario.Complete, Scenario.Fault, Scenario.DrainTimeout)] Scenario scenario,
        CancellationToken ct)
    {
        // Failures come from the sink (every third item); abandonment from the scenario (acknowledgements for items
        // 20 and up never come, so Fault and the drain timeout abandon them).
        using var sink = new HostileSink(HostileAccept.FailEveryThird);
        IBatchSink<int> partial = scenario == Scenario.Complete ? sink : new AcknowledgeBelow(sink, 20);
        using var run = new HostileRun(partial);
        switch (kind)
        {
            case CallbackKind.ItemFailedThrows:
                run.HandBack.OnItemFailed = (_, _) => throw new InvalidOperationException("ItemFailed threw");
                break;
            case CallbackKind.ItemFailedFaultsBlock:
                run.HandBack.OnItemFailed = (_, _) => Fault(run.Block, new InvalidOperationException("faulted from ItemFailed"));
                break;
            case CallbackKind.ItemFailedCompletesBlock:
                run.HandBack.OnItemFailed = (_, _) => run.Block.Complete();
                break;
            case CallbackKind.ItemsAbandonedThrows:
                run.HandBack.OnItemsAbandoned = _ => throw new InvalidOperationException("ItemsAbandoned threw");
                break;
            case CallbackKind.ItemsAbandonedFaultsBlock:
                run.HandBack.OnItemsAbandoned = _ => Fault(run.Block, new InvalidOperationException("faulted from ItemsAbandoned"));
                break;
            default:
                run.HandBack.OnItemsAbandoned = _ => run.Block.Complete();
                break;
        }

        HostileOutcome outcome = await run.RunAsync(scenario, ct);

        AssertHostileContract(outcome);
        if (scenario != Scenario.Fault)
        {
            // Under Fault the abort may come before the first acknowledgement is reported.
            Assert.That(outcome.Statistics.Failed, Is.Positive, "the sink failed items, so ItemFailed ran");
        }
    }

    [TestCase(Scenario.Complete)]
    [TestCase(Scenario.Fault)]
    [CancelAfter(20_000)]
    public async Task MeterListenerThrows_AnyScenario_ContractHolds(Scenario scenario, CancellationToken ct)
    {
        using var listener = new MeterListener
        {
            InstrumentPublished = static (instrument, l) =>
            {
                if (instrument.Meter.Name == TelemetryNames.MeterName)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>(static (_, _, _, _) => throw new InvalidOperationException("meter listener threw"));
        listener.SetMeasurementEventCallback<int>(static (_, _, _, _) => throw new InvalidOperationException("meter listener threw"));
        listener.SetMeasurementEventCallback<double>(static (_, _, _, _) => throw new InvalidOperationException("meter listener threw"));
        listener.Start();
        using var sink = new HostileSink(scenario == Scenario.Complete ? HostileAccept.FailEveryThird : HostileAccept.AcknowledgementNever);
        using var run = new HostileRun(sink);

        HostileOutcome outcome = await run.RunAsync(scenario, ct);

        AssertHostileContract(outcome);
    }

    [TestCase(Scenario.Complete, true)]
    [TestCase(Scenario.Complete, false)]
    [TestCase(Scenario.Fault, true)]
    [TestCase(Scenario.Fault, false)]
    [CancelAfter(20_000)]
    public async Task ActivityListenerThrows_AnyScenario_ContractHolds(Scenario scenario, bool onStart, CancellationToken ct)
    {
        using var listener = new ActivityListener
        {
            ShouldListenTo = static source => source.Name == TelemetryNames.ActivitySourceName,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStarted = onStart ? static _ => throw new InvalidOperationException("ActivityStarted threw") : null,
            ActivityStopped = onStart ? null : static _ => throw new InvalidOperationException("ActivityStopped threw"),
        };
        ActivitySource.AddActivityListener(listener);
        using var sink = new HostileSink(scenario == Scenario.Complete ? HostileAccept.FailEveryThird : HostileAccept.AcknowledgementNever);
        using var run = new HostileRun(sink);

        HostileOutcome outcome = await run.RunAsync(scenario, ct);

        AssertHostileContract(outcome);
    }

    public enum DisposalKind
    {
        Throws,
        BlocksThread,
        Never,
    }

    [Test, CancelAfter(20_000)]
    public async Task HostileOwnedResource_Disposal_ContractHoldsAndCompletionComesWithinTheSettleTime(
        [Values] DisposalKind kind,
        [Values(Scenario.Complete, Scenario.Fault)] Scenario scenario,
        CancellationToken ct)
    {
        // What a factory built for the caller (a Kafka client) is disposed at the end; a dispose that throws, blocks its
        // thread or never ends must not hold Completion.
        using var sink = new HostileSink(scenario == Scenario.Complete ? HostileAccept.Deliver : HostileAccept.AcknowledgementNever);
        using var release = new ManualResetEventSlim();
        var owned = new HostileDisposable(kind, release);
        try
        {
            using var run = new HostileRun(sink, owned: owned);

            HostileOutcome outcome = await run.RunAsync(scenario, ct);

            AssertHostileContract(outcome);
            Assert.That(owned.Disposals, Is.EqualTo(1));
        }
        finally
        {
            release.Set();
        }
    }

    // A sink that tells the pipeline to dispose it at the end, as a factory's sink does; disposing it disposes what it owns.
    private sealed class OwningSink(IBatchSink<int> inner, IAsyncDisposable owned) : IBatchSink<int>, IBatchSinkHooks<int>, IAsyncDisposable
    {
        public IReadOnlyList<KeyValuePair<string, object?>> TelemetryTags => [];

        public bool DisposeWhenFinished => true;

        public ValueTask<Task<BatchResult>> AcceptAsync(ReadOnlyMemory<int> batch, CancellationToken cancellationToken) => inner.AcceptAsync(batch, cancellationToken);

        public Task FlushAsync(TimeSpan timeout, CancellationToken cancellationToken) => inner.FlushAsync(timeout, cancellationToken);

        public void OnOffered(int item)
        {
        }

        public ValueTask DisposeAsync() => owned.DisposeAsync();
    }

    private sealed class HostileDisposable(DisposalKind kind, ManualResetEventSlim release) : IAsyncDisposable
    {
        private int _disposals;
        private int _blocked;

        public int Disposals => Volatile.Read(ref _disposals);

        public int BlockedThreads => Volatile.Read(ref _blocked);

        public ValueTask DisposeAsync()
        {
            Interlocked.Increment(ref _disposals);
            switch (kind)
            {
                case DisposalKind.Throws:
                    throw new InvalidOperationException("dispose threw");
                case DisposalKind.BlocksThread:
                    Interlocked.Increment(ref _blocked);
                    release.Wait();
                    Interlocked.Decrement(ref _blocked);
                    return ValueTask.CompletedTask;
                default:
                    return new ValueTask(new TaskCompletionSource().Task);
            }
        }
    }

    private static void AssertHostileContract(HostileOutcome o)
    {
        BatchProducerStatistics s = o.Statistics;
        Assert.Multiple(() =>
        {
            Assert.That(o.Advanced, Is.LessThanOrEqualTo(HostileBound), "Completion within DrainTimeout plus the settle time");
            Assert.That(s.Accepted, Is.EqualTo(o.Posted), "Accepted counts every item Post accepted");
            Assert.That(s.Delivered + s.Failed + s.Abandoned, Is.EqualTo(s.Accepted), $"Accepted == Delivered + Failed + Abandoned: {s}");
            Assert.That(s.InFlight, Is.Zero, $"nothing in flight after Completion: {s}");
            Assert.That(o.FailedAtCompletion, Has.Count.EqualTo(s.Failed), "every failed item handed back before Completion");
            Assert.That(o.AbandonedAtCompletion, Has.Count.EqualTo(s.Abandoned), "every abandoned item handed back before Completion");
            Assert.That(o.FailedAtCompletion.Concat(o.AbandonedAtCompletion), Is.Unique, "no item handed back twice");
            Assert.That(o.FailedAtCompletion.Concat(o.AbandonedAtCompletion), Is.SubsetOf(Enumerable.Range(0, HostileItems)));
            switch (o.Exception)
            {
                case null:
                    Assert.That(s.Failed + s.Abandoned, Is.Zero, "Completion succeeded, so nothing failed or was abandoned");
                    break;
                case BatchProducerException<int> ex:
                    Assert.That(ex.Statistics, Is.EqualTo(s), "the exception's counts are the final ones");
                    Assert.That(ex.FailedItems.Select(static f => f.Key), Is.EquivalentTo(o.FailedAtCompletion));
                    Assert.That(ex.AbandonedItems, Is.EquivalentTo(o.AbandonedAtCompletion));
                    break;
                case OperationCanceledException:
                    Assert.That(s.Failed + s.Abandoned, Is.Zero, "Canceled only when nothing was lost");
                    break;
                default:
                    Assert.Fail($"Completion ended with an unexpected {o.Exception.GetType().Name}: {o.Exception}");
                    break;
            }

            Assert.That(o.Unobserved.Select(static e => e.ToString()), Is.Empty, "no unobserved task exception");
        });
    }

    private sealed record HostileOutcome(
        int Posted,
        TimeSpan Advanced,
        Exception? Exception,
        BatchProducerStatistics Statistics,
        IReadOnlyList<int> FailedAtCompletion,
        IReadOnlyList<int> AbandonedAtCompletion,
        IReadOnlyList<Exception> Unobserved);

    /// <summary>
    /// One pipeline over a hostile plug-in, on a fake clock: posts <see cref="HostileItems"/> items, plays the
    /// scenario, then advances the clock a second at a time, waiting for the pool to go quiet between steps, until
    /// Completion ends (or the bound is passed: a hang).
    /// </summary>
    private sealed class HostileRun : IDisposable
    {
        private const int QuietChecks = 200;
        private static readonly TimeSpan Step = TimeSpan.FromSeconds(1);
        private readonly FakeTimeProvider _time = new();
        private readonly CancellationTokenSource _cancellation = new();
        private readonly List<Exception> _unobserved = [];
        private readonly PoolBaseline _baseline;

        public HostileRun(IBatchSink<int> sink, ILogger<BatchProducerBlock<int>>? logger = null, IAsyncDisposable? owned = null)
        {
            // Earlier tests' garbage first, so that only this run's unobserved exceptions are seen.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            HostileSink? hostile = sink as HostileSink ?? (sink as AcknowledgeBelow)?.Inner;
            _baseline = PoolBaseline.Take(() => (hostile?.BlockedThreads ?? 0) + ((owned as HostileDisposable)?.BlockedThreads ?? 0));
            TaskScheduler.UnobservedTaskException += OnUnobserved;
            Block = new BatchProducerBlock<int>(
                owned is null ? sink : new OwningSink(sink, owned),
                new BatchProducerOptions
                {
                    BatchSize = 10,
                    Linger = Hour,
                    BoundedCapacity = 1000,
                    MaxInFlightBatches = 2,
                    DrainTimeout = HostileDrain,
                    CancellationToken = _cancellation.Token,
                    TimeProvider = _time,
                },
                HandBack.Callbacks,
                logger ?? _log);
        }

        private readonly Microsoft.Extensions.Logging.Testing.FakeLogger<BatchProducerBlock<int>> _log = new();

        public HandBackRecorder HandBack { get; } = new();

        public BatchProducerBlock<int> Block { get; }

        public async Task<HostileOutcome> RunAsync(Scenario scenario, CancellationToken ct)
        {
            int posted = Enumerable.Range(0, HostileItems).Count(i => Block.Post(i));
            Quiescence.Wait(_baseline, QuietChecks);
            switch (scenario)
            {
                case Scenario.Complete:
                case Scenario.DrainTimeout:
                    Block.Complete();
                    break;
                case Scenario.Fault:
                    Fault(Block, new InvalidOperationException("faulted by the test"));
                    break;
                case Scenario.Cancel:
                    _cancellation.Cancel();
                    break;
            }

            TimeSpan advanced = TimeSpan.Zero;
            Quiescence.Wait(_baseline, QuietChecks);
            while (!Block.Completion.IsCompleted && advanced <= HostileBound)
            {
                _time.Advance(Step);
                advanced += Step;
                Quiescence.Wait(_baseline, QuietChecks);
            }

            // Taken the moment Completion is seen to end: a hand-back after this point came too late.
            IReadOnlyList<int> failed = [.. HandBack.Failed.Select(static f => f.Item)];
            IReadOnlyList<int> abandoned = HandBack.Abandoned;
            Assert.That(Block.Completion.IsCompleted, Is.True, $"Completion did not end within {HostileBound} of fake time: {Block.GetStatistics()}; log: {string.Join(" | ", _log.Collector.GetSnapshot().Select(static r => r.Message))}");
            Exception? exception = await ExceptionOf(Block.Completion, ct);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            IReadOnlyList<Exception> unobserved;
            lock (_unobserved)
            {
                unobserved = [.. _unobserved];
            }

            return new HostileOutcome(posted, advanced, exception, Block.GetStatistics(), failed, abandoned, unobserved);
        }

        public void Dispose()
        {
            TaskScheduler.UnobservedTaskException -= OnUnobserved;
            _cancellation.Dispose();
        }

        private void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            lock (_unobserved)
            {
                _unobserved.Add(e.Exception);
            }
        }
    }

    /// <summary>Delivers through the inner sink, except that batches holding an item at or above the limit are never
    /// acknowledged.</summary>
    private sealed class AcknowledgeBelow(HostileSink inner, int limit) : IBatchSink<int>
    {
        public HostileSink Inner => inner;

        public ValueTask<Task<BatchResult>> AcceptAsync(ReadOnlyMemory<int> batch, CancellationToken cancellationToken) =>
            batch.Span[^1] >= limit
                ? ValueTask.FromResult(new TaskCompletionSource<BatchResult>().Task)
                : inner.AcceptAsync(batch, cancellationToken);

        public Task FlushAsync(TimeSpan timeout, CancellationToken cancellationToken) => inner.FlushAsync(timeout, cancellationToken);
    }

    private sealed class ThrowingLogger(Func<LogLevel, EventId, bool> throwsOn, bool isEnabledThrows = false) : ILogger<BatchProducerBlock<int>>
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => throw new InvalidOperationException("BeginScope threw");

        public bool IsEnabled(LogLevel logLevel) => isEnabledThrows ? throw new InvalidOperationException("IsEnabled threw") : true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (throwsOn(logLevel, eventId))
            {
                throw new InvalidOperationException($"the logger threw on {eventId.Name}");
            }
        }
    }

    private sealed class ThrowingLoggerProvider : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new ThrowingLogger(static (_, _) => true);

        public void Dispose()
        {
        }
    }
}
