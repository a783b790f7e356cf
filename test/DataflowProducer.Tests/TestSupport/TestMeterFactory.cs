using System.Diagnostics.Metrics;

namespace DataflowProducer.Tests.TestSupport;

/// <summary>A meter factory of the test's own, so a test's <c>MetricCollector</c> (scoped to it) sees only its blocks;
/// it keeps the meters it creates, so a test can also collect from the pipeline's own meter.</summary>
internal sealed class TestMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    /// <summary>Gets the meters created so far (a snapshot).</summary>
    public IReadOnlyList<Meter> Meters
    {
        get
        {
            lock (_meters)
            {
                return [.. _meters];
            }
        }
    }

    public Meter Create(MeterOptions options)
    {
        var meter = new Meter(options.Name, options.Version, options.Tags, scope: this);
        lock (_meters)
        {
            _meters.Add(meter);
        }

        return meter;
    }

    public void Dispose()
    {
        lock (_meters)
        {
            foreach (Meter meter in _meters)
            {
                meter.Dispose();
            }
        }
    }
}
