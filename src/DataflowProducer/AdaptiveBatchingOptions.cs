using System.Threading.Tasks.Dataflow;
using DataflowProducer.Internal;

namespace DataflowProducer;

/// <summary>
/// Options of adaptive batching (<see cref="BatchProducerOptions.Adaptive"/>): while the sink is slow, the pipeline
/// makes its batches larger and lets them linger longer, so a slow broker gets fewer, fuller requests; when the sink is
/// fast again, it goes back to <see cref="BatchProducerOptions.BatchSize"/> and <see cref="BatchProducerOptions.Linger"/>.
/// </summary>
/// <remarks>
/// <para>
/// The rule, judged on what the pipeline measures itself: each batch's acknowledgement latency (from handing it to the
/// sink to its outcome being known) and whether the pipeline was under pressure when the acknowledgement came (every
/// slot of <see cref="BatchProducerOptions.MaxInFlightBatches"/> taken, or posters waiting for room under
/// <see cref="BatchProducerOptions.BoundedCapacity"/>). Acknowledgements are gathered over <see cref="Window"/>; the first
/// acknowledgement after a window has passed closes it: the window is judged and a new one begins (an idle pipeline
/// keeps its limits until acknowledgements come again):
/// </para>
/// <list type="bullet">
/// <item><description><em>Slow</em>: the mean latency is at least <see cref="SlowLatency"/> and at least half of the
/// window's acknowledgements came under pressure. The limits grow one step: batch size and linger multiplied by
/// <see cref="Factor"/>, up to <see cref="MaxBatchSize"/> and <see cref="MaxLinger"/>.</description></item>
/// <item><description><em>Recovered</em>: the mean latency is at most <see cref="RecoveredLatency"/> (below the slow
/// threshold: the gap between the two is the hysteresis). The limits go back to the configured batch size and linger
/// at once.</description></item>
/// <item><description>Otherwise nothing changes. The limits never change twice within <see cref="CoolDown"/>.</description></item>
/// </list>
/// <para>
/// A batch already open when the limits change keeps the linger deadline it got when it opened; a smaller batch size
/// closes it at once when it already holds that many items. A count-only pipeline (an infinite linger) adapts its batch
/// size only; with a batch size of 1 the pipeline has a linger timer all the same, used once batches hold more than one
/// item. Every change is logged (event 1013, <c>BatchLimitsChanged</c>) and measured
/// (<c>dataflowproducer.batch.size.limit</c>, <c>dataflowproducer.batch.linger.limit</c> and
/// <c>dataflowproducer.batch.limit.changes</c>). Times come from <see cref="BatchProducerOptions.TimeProvider"/>.
/// </para>
/// </remarks>
public sealed class AdaptiveBatchingOptions
{
    /// <summary>Gets or sets the mean acknowledgement latency, over a window, at or above which the sink counts as slow
    /// (when the pipeline is also under pressure).</summary>
    /// <value>Greater than zero and finite. The default is 100 ms.</value>
    public TimeSpan SlowLatency { get; set; } = AdaptiveDefaults.SlowLatency;

    /// <summary>Gets or sets the mean acknowledgement latency, over a window, at or below which the sink counts as
    /// recovered and the limits go back to the configured ones.</summary>
    /// <value>Zero or more, and less than <see cref="SlowLatency"/>. The default is 25 ms.</value>
    public TimeSpan RecoveredLatency { get; set; } = AdaptiveDefaults.RecoveredLatency;

    /// <summary>Gets or sets how much one step multiplies the batch size and the linger by.</summary>
    /// <value>At least 2. The default is 4.</value>
    public int Factor { get; set; } = AdaptiveDefaults.Factor;

    /// <summary>Gets or sets the largest batch size adaptive batching may reach.</summary>
    /// <value>At least <see cref="BatchProducerOptions.BatchSize"/>, and at most
    /// <see cref="BatchProducerOptions.BoundedCapacity"/> when that is bounded. The default is 20,000.</value>
    public int MaxBatchSize { get; set; } = AdaptiveDefaults.MaxBatchSize;

    /// <summary>Gets or sets the longest linger adaptive batching may reach.</summary>
    /// <value>At least <see cref="BatchProducerOptions.Linger"/>, and finite; not used when that is
    /// <see cref="Timeout.InfiniteTimeSpan"/>. The default is 500 ms.</value>
    public TimeSpan MaxLinger { get; set; } = AdaptiveDefaults.MaxLinger;

    /// <summary>Gets or sets how long acknowledgements are gathered before they are judged.</summary>
    /// <value>Greater than zero and finite. The default is 5 s.</value>
    public TimeSpan Window { get; set; } = AdaptiveDefaults.Window;

    /// <summary>Gets or sets the shortest time between two changes of the limits.</summary>
    /// <value>Zero or more, and finite. The default is 30 s.</value>
    public TimeSpan CoolDown { get; set; } = AdaptiveDefaults.CoolDown;

    internal AdaptiveBatchingOptions Clone() => (AdaptiveBatchingOptions)MemberwiseClone();

    // The rules, within these options and against the pipeline's batching settings.
    internal IEnumerable<OptionsError> Errors(int batchSize, TimeSpan linger, int boundedCapacity, string optionsName)
    {
        string name = optionsName + ".Adaptive";
        bool slowValid = SlowLatency > TimeSpan.Zero && SlowLatency <= OptionsValidation.MaxTimerDelay;
        if (!slowValid)
        {
            yield return new($"{name}.SlowLatency must be greater than zero and at most {OptionsValidation.MaxTimerDelay}, but was {SlowLatency}.", SlowLatency);
        }
        else if (RecoveredLatency < TimeSpan.Zero || RecoveredLatency >= SlowLatency)
        {
            yield return new($"{name}.RecoveredLatency must be zero or more and less than SlowLatency ({SlowLatency}), but was {RecoveredLatency}.", RecoveredLatency);
        }

        if (Factor < 2)
        {
            yield return new($"{name}.Factor must be at least 2, but was {OptionsValidation.Format(Factor)}.", Factor);
        }

        if (MaxBatchSize < batchSize)
        {
            yield return new($"{name}.MaxBatchSize must be at least BatchSize ({OptionsValidation.Format(batchSize)}), but was {OptionsValidation.Format(MaxBatchSize)}.", MaxBatchSize);
        }
        else if (boundedCapacity != DataflowBlockOptions.Unbounded && MaxBatchSize > boundedCapacity)
        {
            yield return new($"{name}.MaxBatchSize must be at most BoundedCapacity ({OptionsValidation.Format(boundedCapacity)}): a batch must fit in what the pipeline may hold, but was {OptionsValidation.Format(MaxBatchSize)}.", MaxBatchSize);
        }

        if (linger != Timeout.InfiniteTimeSpan && (MaxLinger < linger || MaxLinger > OptionsValidation.MaxTimerDelay))
        {
            yield return new($"{name}.MaxLinger must be at least Linger ({linger}) and at most {OptionsValidation.MaxTimerDelay}, but was {MaxLinger}.", MaxLinger);
        }

        if (Window <= TimeSpan.Zero || Window > OptionsValidation.MaxTimerDelay)
        {
            yield return new($"{name}.Window must be greater than zero and at most {OptionsValidation.MaxTimerDelay}, but was {Window}.", Window);
        }

        if (CoolDown < TimeSpan.Zero || CoolDown > OptionsValidation.MaxTimerDelay)
        {
            yield return new($"{name}.CoolDown must be zero or more and at most {OptionsValidation.MaxTimerDelay}, but was {CoolDown}.", CoolDown);
        }
    }
}
