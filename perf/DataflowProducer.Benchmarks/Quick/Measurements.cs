namespace DataflowProducer.Benchmarks.Quick;

/// <summary>The throughputs (per second) one contender reached in the measured rounds.</summary>
public sealed class Measurements(string name, string unit)
{
    private readonly List<double> _perSecond = [];
    private readonly List<double> _seconds = [];
    private readonly List<double> _cpuMicrosecondsPerItem = [];

    public string Name { get; } = name;

    public string Unit { get; } = unit;

    public int Count => _perSecond.Count;

    public double MedianPerSecond => Median(_perSecond);

    public double MinPerSecond => _perSecond.Min();

    public double MaxPerSecond => _perSecond.Max();

    public double MedianSeconds => Median(_seconds);

    /// <summary>Gets the median process CPU time (every thread, librdkafka's and the mock brokers' included) per item:
    /// the cost side of the throughput, and less sensitive than wall time to other load on the machine.</summary>
    public double MedianCpuMicrosecondsPerItem => Median(_cpuMicrosecondsPerItem);

    public void Add(long count, TimeSpan elapsed, TimeSpan cpu)
    {
        _perSecond.Add(count / elapsed.TotalSeconds);
        _seconds.Add(elapsed.TotalSeconds);
        _cpuMicrosecondsPerItem.Add(cpu.TotalMicroseconds / count);
    }

    public static double Median(IReadOnlyCollection<double> values)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        double[] sorted = [.. values.Order()];
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
