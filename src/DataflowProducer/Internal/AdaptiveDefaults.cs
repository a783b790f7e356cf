namespace DataflowProducer.Internal;

/// <summary>The defaults of <see cref="AdaptiveBatchingOptions"/>, in one place (internal, as <see cref="Defaults"/>).
/// The clamps and the factor are those of the Go producer this library re-implements; the latency thresholds stand in
/// for its byte rate, which the core cannot measure.</summary>
internal static class AdaptiveDefaults
{
    public const int Factor = 4;
    public const int MaxBatchSize = 20_000;
    public static readonly TimeSpan SlowLatency = TimeSpan.FromMilliseconds(100);
    public static readonly TimeSpan RecoveredLatency = TimeSpan.FromMilliseconds(25);
    public static readonly TimeSpan MaxLinger = TimeSpan.FromMilliseconds(500);
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan CoolDown = TimeSpan.FromSeconds(30);
}
