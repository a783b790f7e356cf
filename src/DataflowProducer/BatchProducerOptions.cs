using System.Diagnostics.Metrics;
using System.Threading.Tasks.Dataflow;
using DataflowProducer.Internal;

namespace DataflowProducer;

/// <summary>
/// Options for <see cref="BatchProducerBlock{T}"/>. The block copies them when it is constructed, so later changes
/// to an instance do not affect blocks already built from it.
/// </summary>
public sealed class BatchProducerOptions
{
    /// <summary>Gets or sets the largest number of items in one batch.</summary>
    /// <value>At least 1, and no more than <see cref="BoundedCapacity"/> when that is bounded: a batch must fit in what
    /// the block may hold, so a larger batch needs a larger capacity too. The default is 1000.</value>
    public int BatchSize { get; set; } = Defaults.BatchSize;

    /// <summary>Gets or sets the longest time the oldest item of the open batch waits before the batch is sent
    /// (Kafka's <c>linger.ms</c>: measured from the first item of the batch, never extended).</summary>
    /// <value>Greater than zero, or <see cref="Timeout.InfiniteTimeSpan"/> for count-only batching.
    /// The default is 50 ms.</value>
    public TimeSpan Linger { get; set; } = Defaults.Linger;

    /// <summary>Gets or sets the most items held at once over the whole pipeline: accepted items whose outcome is not
    /// yet known, whether they are being batched, waiting for the sink, or in flight.</summary>
    /// <value>At least <see cref="BatchSize"/>, or <see cref="DataflowBlockOptions.Unbounded"/> (-1).
    /// The default is 100,000.</value>
    /// <remarks>When full, <c>SendAsync</c> waits and <c>Post</c> returns false.</remarks>
    public int BoundedCapacity { get; set; } = Defaults.BoundedCapacity;

    /// <summary>Gets or sets the most bytes held at once over the whole pipeline, as <see cref="ItemSize"/> measures
    /// them: the same items <see cref="BoundedCapacity"/> counts, bounded by size as well as by number.</summary>
    /// <value>At least 1, or -1 for no bytes bound. The default is -1.</value>
    /// <remarks>
    /// <para>When either bound is full, <c>SendAsync</c> waits and <c>Post</c> returns false; the bytes of a batch are
    /// given back when its outcome is known (delivered, failed or abandoned), and waiting offers are then taken in
    /// order. An item larger than the bound on its own is taken when the pipeline holds nothing else (never a
    /// deadlock); while anything is held it waits, and the offers behind it wait too.</para>
    /// <para>Requires <see cref="ItemSize"/>, unless the sink supplies one (the Kafka sink does).</para>
    /// </remarks>
    public long BoundedBytes { get; set; } = Defaults.BoundedBytes;

    /// <summary>Gets or sets the most bytes in one batch, as <see cref="ItemSize"/> measures them: a batch closes
    /// before an item would take it past this. An item larger than this is a batch of its own.</summary>
    /// <value>At least 1 and no more than <see cref="BoundedBytes"/> when that is set, or -1 for no limit.
    /// The default is -1.</value>
    /// <remarks>Requires <see cref="ItemSize"/>, as <see cref="BoundedBytes"/> does.</remarks>
    public long MaxBatchBytes { get; set; } = Defaults.MaxBatchBytes;

    /// <summary>Gets or sets how <see cref="BoundedBytes"/> and <see cref="MaxBatchBytes"/> measure an item: a
    /// <see cref="Func{T, TResult}"/> of the block's item type returning <see cref="long"/> (a
    /// <c>Func&lt;T, long&gt;</c>), called once per offer on the poster's thread, before the pipeline decides whether
    /// to take the item.</summary>
    /// <value>The default is null: required when a bytes setting is set, unless the sink supplies one through
    /// <see cref="IBatchSinkHooks{T}.ItemSize"/> (the Kafka sink does for common key and value types: key + value +
    /// headers).</value>
    /// <remarks>An item whose size cannot be measured (the function throws or returns a negative number) is logged;
    /// <c>Post</c> declines it (returns false), while an offer that comes with a source (<c>SendAsync</c>, a linked
    /// block) takes it counted as 0 bytes, since a declined message would stay at the head of a linked source and
    /// stop it. The rest go on. Several posters may call the function at once: it must be thread-safe. The block's
    /// constructor throws an <see cref="ArgumentException"/> when the delegate is not a <c>Func&lt;T, long&gt;</c> for
    /// its item type.</remarks>
    public Delegate? ItemSize { get; set; }

    /// <summary>Gets or sets how many batches may be accepted by the sink and not yet acknowledged.</summary>
    /// <value>At least 1. The default is 32.</value>
    /// <remarks>The window should hold more than the client needs to fill its own requests: with Kafka's defaults
    /// (<c>batch.num.messages</c> 10,000) and batches of 1000, a window of 8 left the client waiting for its linger and
    /// the pipeline waiting for acknowledgements; 32 did not (see the benchmarks' "where the pipeline waits").
    /// <see cref="BoundedCapacity"/>, not the window, bounds what the pipeline holds.</remarks>
    public int MaxInFlightBatches { get; set; } = Defaults.MaxInFlightBatches;

    /// <summary>Gets or sets how long, after <c>Complete()</c> or <c>DisposeAsync()</c>, the pipeline may take to
    /// deliver what it holds and flush the sink. What is still unknown then is abandoned and handed back.</summary>
    /// <value>Zero or more, or <see cref="Timeout.InfiniteTimeSpan"/>. The default is 30 s.</value>
    public TimeSpan DrainTimeout { get; set; } = Defaults.DrainTimeout;

    /// <summary>Gets or sets how long, after an abort, items already handed to the sink get to report their real
    /// outcome (the time given to the sink's last flush). What has none by then is abandoned as
    /// <see cref="OutcomeStatus.Unknown"/>; items never handed over are abandoned at once as
    /// <see cref="OutcomeStatus.NotSent"/>.</summary>
    /// <value>Zero or more, and finite. The default is 2 s. During a drain it is cut to what is left of
    /// <see cref="DrainTimeout"/>; after a drain timeout there is none (the drain's flush has had its time).</value>
    public TimeSpan SettleTime { get; set; } = Defaults.SettleTime;

    /// <summary>Gets or sets a value indicating whether the block emits every item's outcome through
    /// <see cref="BatchProducerBlock{T}.Outcomes"/>.</summary>
    /// <value>The default is false: nothing is buffered for a reader that does not exist, and
    /// <see cref="BatchProducerBlock{T}.Outcomes"/> throws.</value>
    public bool EmitOutcomes { get; set; }

    /// <summary>Gets or sets how many batch outcomes <see cref="BatchProducerBlock{T}.Outcomes"/> holds for its reader.
    /// When it is full, the pipeline stops reporting outcomes, so the sink gets no new batches and posters wait:
    /// a slow reader holds the pipeline back instead of growing memory.</summary>
    /// <value>At least 1. The default is 16. Used only with <see cref="EmitOutcomes"/>.</value>
    public int OutcomeBoundedCapacity { get; set; } = Defaults.OutcomeBoundedCapacity;

    /// <summary>Gets or sets what happens when an item fails.</summary>
    /// <value>The default is <see cref="FailurePolicy.ReportAndContinue"/>.</value>
    public FailurePolicy FailurePolicy { get; set; } = FailurePolicy.ReportAndContinue;

    /// <summary>Gets or sets adaptive batching: larger batches and a longer linger while the sink is slow, back to
    /// <see cref="BatchSize"/> and <see cref="Linger"/> when it recovers.</summary>
    /// <value>The default is null: off, the batch size and linger never change. See
    /// <see cref="AdaptiveBatchingOptions"/> for the rule.</value>
    public AdaptiveBatchingOptions? Adaptive { get; set; }

    /// <summary>Gets or sets a token that aborts the pipeline: what is not yet delivered is abandoned and handed back.</summary>
    /// <value>The default is <see cref="CancellationToken.None"/>.</value>
    public CancellationToken CancellationToken { get; set; }

    /// <summary>Gets or sets the clock for <see cref="Linger"/> and <see cref="DrainTimeout"/>.</summary>
    /// <value>The default is <see cref="TimeProvider.System"/>.</value>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Gets or sets a name for this pipeline, used as the <c>dataflowproducer.pipeline.name</c> tag on its metrics
    /// and spans so several pipelines in one process can be told apart.</summary>
    /// <value>The default is null: no name tag.</value>
    public string? Name { get; set; }

    /// <summary>Gets or sets the factory that creates the <c>DataflowProducer</c> meter (dependency injection provides one).</summary>
    /// <value>The default is null: a process-wide static meter.</value>
    public IMeterFactory? MeterFactory { get; set; }

    // The longest delay a timer takes.
    private static readonly TimeSpan MaxTimerDelay = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    /// <summary>Checks every setting, and the rules across settings, without building anything.</summary>
    /// <returns>One line per broken rule, naming the setting and the value it had; empty when the options are valid.
    /// <see cref="BatchProducerBlock{T}"/>'s constructor throws an <see cref="ArgumentException"/> with the first.</returns>
    /// <remarks>For a factory that must check options before it builds something expensive for the block (a Kafka
    /// client), and for configuration validation that reports every error at once.</remarks>
    public IReadOnlyList<string> Validate() => [.. Errors().Select(static e => e.Message)];

    internal void ThrowIfInvalid() => OptionsValidation.ThrowFirst(Errors(), "options");

    internal BatchProducerOptions Clone()
    {
        var clone = (BatchProducerOptions)MemberwiseClone();
        clone.Adaptive = Adaptive?.Clone();
        return clone;
    }

    // The item type and the sink are not known here: the block checks that ItemSize is a Func<T, long> for its own T,
    // or that the sink supplies one.
    private IEnumerable<OptionsError> BytesErrors(string name)
    {
        if (BoundedBytes is not -1 and < 1)
        {
            yield return new($"{name}.BoundedBytes must be at least 1, or -1 for no bytes bound, but was {OptionsValidation.Format(BoundedBytes)}.", BoundedBytes);
        }

        if (MaxBatchBytes is not -1 and < 1)
        {
            yield return new($"{name}.MaxBatchBytes must be at least 1, or -1 for no limit, but was {OptionsValidation.Format(MaxBatchBytes)}.", MaxBatchBytes);
        }

        if (MaxBatchBytes >= 1 && BoundedBytes >= 1 && MaxBatchBytes > BoundedBytes)
        {
            yield return new($"{name}.MaxBatchBytes must be at most BoundedBytes ({OptionsValidation.Format(BoundedBytes)}), but was {OptionsValidation.Format(MaxBatchBytes)}.", MaxBatchBytes);
        }

    }

    private IEnumerable<OptionsError> Errors()
    {
        const string Name = nameof(BatchProducerOptions);
        foreach (OptionsError error in OptionsValidation.BatchingErrors(BatchSize, Linger, BoundedCapacity, Name))
        {
            yield return error;
        }

        foreach (OptionsError error in BytesErrors(Name))
        {
            yield return error;
        }

        if (MaxInFlightBatches < 1)
        {
            yield return new($"{Name}.MaxInFlightBatches must be at least 1, but was {OptionsValidation.Format(MaxInFlightBatches)}.", MaxInFlightBatches);
        }

        if (DrainTimeout != Timeout.InfiniteTimeSpan && DrainTimeout < TimeSpan.Zero)
        {
            yield return new($"{Name}.DrainTimeout must be zero or more, or Timeout.InfiniteTimeSpan, but was {DrainTimeout}.", DrainTimeout);
        }

        if (DrainTimeout > MaxTimerDelay)
        {
            yield return new($"{Name}.DrainTimeout must be at most {MaxTimerDelay} (the longest timer), or Timeout.InfiniteTimeSpan, but was {DrainTimeout}.", DrainTimeout);
        }

        if (SettleTime < TimeSpan.Zero || SettleTime > MaxTimerDelay)
        {
            yield return new($"{Name}.SettleTime must be zero or more and at most {MaxTimerDelay} (the longest timer), but was {SettleTime}.", SettleTime);
        }

        if (OutcomeBoundedCapacity < 1)
        {
            yield return new($"{Name}.OutcomeBoundedCapacity must be at least 1, but was {OptionsValidation.Format(OutcomeBoundedCapacity)}.", OutcomeBoundedCapacity);
        }

        if (!Enum.IsDefined(FailurePolicy))
        {
            yield return new($"{Name}.FailurePolicy must be ReportAndContinue or FaultPipeline, but was {FailurePolicy}.", FailurePolicy);
        }

        if (Adaptive is { } adaptive)
        {
            foreach (OptionsError error in adaptive.Errors(BatchSize, Linger, BoundedCapacity, Name))
            {
                yield return error;
            }
        }

        if (TimeProvider is null)
        {
            yield return new($"{Name}.TimeProvider must not be null.", null, IsNull: true);
        }
    }
}
