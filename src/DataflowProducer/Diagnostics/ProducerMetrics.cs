using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace DataflowProducer.Diagnostics;

/// <summary>The pipeline's instruments on the <c>DataflowProducer</c> meter: one set per meter, shared by every block
/// that uses it. With an <see cref="IMeterFactory"/> (dependency injection) the meter comes from it; without one, a
/// process-wide static meter is used.</summary>
internal sealed class ProducerMetrics
{
    private static readonly ConditionalWeakTable<IMeterFactory, ProducerMetrics> ByFactory = [];

    // The running pipelines the observable instruments report (every pipeline on this meter, until it has finished).
    // Weak: a pipeline its user drops without completing it must not stay reachable through the shared meter.
    private readonly ConditionalWeakTable<IHeldObservable, object> _observed = new();
    private static readonly object Observed = new();

    // The messaging conventions' advice for operation durations (5 ms to 10 s), on every duration histogram: the SDK's
    // defaults (0 to 10,000, meant for milliseconds) would put every batch in the first bucket or two.
    private static readonly InstrumentAdvice<double> DurationAdvice = new()
    {
        HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
    };

    private static readonly Lazy<ProducerMetrics> Shared = new(() => new ProducerMetrics(new Meter(TelemetryNames.MeterName, TelemetryNames.Version)));

    private ProducerMetrics(Meter meter)
    {
        Accepted = meter.CreateCounter<long>(TelemetryNames.MessagesAccepted, TelemetryNames.MessageUnit, "Messages accepted by the pipeline.");
        Delivered = meter.CreateCounter<long>(TelemetryNames.MessagesDelivered, TelemetryNames.MessageUnit, "Messages the sink acknowledged as delivered.");
        Failed = meter.CreateCounter<long>(TelemetryNames.MessagesFailed, TelemetryNames.MessageUnit, "Messages the sink reported failed.");
        Abandoned = meter.CreateCounter<long>(TelemetryNames.MessagesAbandoned, TelemetryNames.MessageUnit, "Messages the pipeline will never deliver and handed back.");
        NotSent = meter.CreateCounter<long>(TelemetryNames.MessagesNotSent, TelemetryNames.MessageUnit, "Abandoned messages the sink was never given: safe to send again.");
        Unknown = meter.CreateCounter<long>(TelemetryNames.MessagesUnknown, TelemetryNames.MessageUnit, "Abandoned messages the sink was given whose outcome stayed unknown: sending again may duplicate.");
        InFlight = meter.CreateUpDownCounter<long>(TelemetryNames.MessagesInFlight, TelemetryNames.MessageUnit, "Messages handed to the sink whose outcome is not known yet.");
        BackpressureWaits = meter.CreateCounter<long>(TelemetryNames.BackpressureWaits, TelemetryNames.WaitUnit, "Offers that found no room (a Post declined, or a SendAsync that had to wait), by reason: capacity (BoundedCapacity) or bytes (BoundedBytes).");
        meter.CreateObservableUpDownCounter(TelemetryNames.MessagesHeld, () => Observe(static b => b.MessagesHeld), TelemetryNames.MessageUnit, "Messages accepted whose outcome is not known yet: being batched, waiting for the sink, or in flight.");
        meter.CreateObservableUpDownCounter(TelemetryNames.BytesHeld, () => Observe(static b => b.BytesHeld), TelemetryNames.ByteUnit, "Bytes of the messages held, as BatchProducerOptions.ItemSize measures them (pipelines with a bytes setting only).");
        BatchSize = meter.CreateHistogram<int>(TelemetryNames.BatchSize, TelemetryNames.MessageUnit, "Messages per batch handed to the sink.");
        AcknowledgeDuration = meter.CreateHistogram(TelemetryNames.BatchAcknowledgeDuration, TelemetryNames.SecondsUnit, "Time from handing a batch to the sink to knowing every message's outcome.", tags: null, DurationAdvice);
        SentMessages = meter.CreateCounter<long>(TelemetryNames.ClientSentMessages, TelemetryNames.MessageUnit, "Number of messages producer attempted to send to the broker.");
        BatchSizeLimit = meter.CreateGauge<int>(TelemetryNames.BatchSizeLimit, TelemetryNames.MessageUnit, "The batch size in effect (adaptive batching).");
        BatchLingerLimit = meter.CreateGauge<double>(TelemetryNames.BatchLingerLimit, TelemetryNames.SecondsUnit, "The linger in effect (adaptive batching; not recorded for count-only batching).");
        BatchLimitChanges = meter.CreateCounter<long>(TelemetryNames.BatchLimitChanges, TelemetryNames.ChangeUnit, "Changes of the batch size and linger by adaptive batching.");
        OperationDuration = meter.CreateHistogram(TelemetryNames.ClientOperationDuration, TelemetryNames.SecondsUnit, "Duration of messaging operation initiated by a producer or consumer client.", tags: null, DurationAdvice);
    }

    public Counter<long> Accepted { get; }

    public Counter<long> Delivered { get; }

    public Counter<long> Failed { get; }

    public Counter<long> Abandoned { get; }

    public Counter<long> NotSent { get; }

    public Counter<long> Unknown { get; }

    public UpDownCounter<long> InFlight { get; }

    public Counter<long> BackpressureWaits { get; }

    public Histogram<int> BatchSize { get; }

    public Histogram<double> AcknowledgeDuration { get; }

    /// <summary>Gets <c>dataflowproducer.batch.size.limit</c>: recorded when adaptive batching starts and at each change.</summary>
    public Gauge<int> BatchSizeLimit { get; }

    /// <summary>Gets <c>dataflowproducer.batch.linger.limit</c>, in seconds: recorded with <see cref="BatchSizeLimit"/>,
    /// except for count-only batching.</summary>
    public Gauge<double> BatchLingerLimit { get; }

    /// <summary>Gets <c>dataflowproducer.batch.limit.changes</c>: one per change, tagged grow or shrink.</summary>
    public Counter<long> BatchLimitChanges { get; }

    /// <summary>Gets <c>messaging.client.sent.messages</c>: the messages of each batch handed to the sink, counted when
    /// the batch's outcome is known, with <c>error.type</c> for those that failed or were abandoned.</summary>
    public Counter<long> SentMessages { get; }

    /// <summary>Gets <c>messaging.client.operation.duration</c>: one send operation per batch, from the hand-over to
    /// its outcome, with <c>error.type</c> when the batch did not all get delivered.</summary>
    public Histogram<double> OperationDuration { get; }

    // A meter listener's callbacks run inside Add and Record, on the pipeline's threads: user code. Whatever it throws
    // costs that measurement, never an item or the pipeline (DESIGN 4.14).
    public static void Add(Counter<long> counter, long value, in TagList tags)
    {
        try
        {
            counter.Add(value, tags);
        }
        catch (Exception)
        {
            // The measurement is lost; nothing else is.
        }
    }

    public static void Add(UpDownCounter<long> counter, long value, in TagList tags)
    {
        try
        {
            counter.Add(value, tags);
        }
        catch (Exception)
        {
            // The measurement is lost; nothing else is.
        }
    }

    public static void Record<TValue>(Histogram<TValue> histogram, TValue value, in TagList tags)
        where TValue : struct
    {
        try
        {
            histogram.Record(value, tags);
        }
        catch (Exception)
        {
            // The measurement is lost; nothing else is.
        }
    }

    public static void Record<TValue>(Gauge<TValue> gauge, TValue value, in TagList tags)
        where TValue : struct
    {
        try
        {
            gauge.Record(value, tags);
        }
        catch (Exception)
        {
            // The measurement is lost; nothing else is.
        }
    }

    /// <summary>Adds a running pipeline to the observable instruments (messages and bytes held); dispose to remove it.</summary>
    public IDisposable Observe(IHeldObservable pipeline)
    {
        _observed.AddOrUpdate(pipeline, Observed);
        return new Unobserve(this, pipeline);
    }

    // Runs on the listener's thread when it collects: reads each pipeline's lock-free snapshot.
    private IEnumerable<Measurement<long>> Observe(Func<IHeldObservable, Measurement<long>?> measure)
    {
        foreach ((IHeldObservable pipeline, object _) in _observed)
        {
            if (measure(pipeline) is { } measurement)
            {
                yield return measurement;
            }
        }
    }

    public static ProducerMetrics For(IMeterFactory? factory) =>
        factory is null
            ? Shared.Value
            : ByFactory.GetValue(factory, static f => new ProducerMetrics(f.Create(new MeterOptions(TelemetryNames.MeterName) { Version = TelemetryNames.Version })));

    private sealed class Unobserve(ProducerMetrics metrics, IHeldObservable pipeline) : IDisposable
    {
        public void Dispose() => metrics._observed.Remove(pipeline);
    }
}
