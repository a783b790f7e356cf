namespace DataflowProducer.Internal;

/// <summary>The options' defaults, in one place. Internal: a public constant would be compiled into the user's
/// assembly and could never change. Each option's <c>&lt;value&gt;</c> documentation states its default.</summary>
internal static class Defaults
{
    public const int BatchSize = 1000;
    public const int BoundedCapacity = 100_000;
    public const int MaxInFlightBatches = 32;
    public const long BoundedBytes = -1;
    public const long MaxBatchBytes = -1;
    public static readonly TimeSpan Linger = TimeSpan.FromMilliseconds(50);
    public static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan SettleTime = TimeSpan.FromSeconds(2);
    public const int OutcomeBoundedCapacity = 16;
}
