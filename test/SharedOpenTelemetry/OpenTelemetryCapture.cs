using System.Collections;
using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace DataflowProducer.Tests.Shared;

/// <summary>
/// The real OpenTelemetry SDK, as a user would set it up (<c>AddMeter("DataflowProducer")</c>,
/// <c>AddSource("DataflowProducer")</c>), exporting to memory. Tests run in parallel in one process and the meter is
/// shared, so every reading is narrowed to one pipeline by its <c>dataflowproducer.pipeline.name</c>.
/// </summary>
internal sealed class OpenTelemetryCapture : IDisposable
{
    private readonly string _pipelineName;
    private readonly LockedList<MetricSnapshot> _metrics = new();
    private readonly LockedList<Activity> _spans = new();
    private readonly MeterProvider _meterProvider;
    private readonly TracerProvider _tracerProvider;
    private bool _flushed;

    public OpenTelemetryCapture(string pipelineName, params string[] otherSources)
    {
        _pipelineName = pipelineName;
        _meterProvider = Sdk.CreateMeterProviderBuilder().AddMeter("DataflowProducer").AddInMemoryExporter(_metrics).Build();
        _tracerProvider = Sdk.CreateTracerProviderBuilder().AddSource(["DataflowProducer", .. otherSources]).AddInMemoryExporter(_spans).Build();
    }

    /// <summary>The pipeline's batch spans, in the order they ended.</summary>
    public IReadOnlyList<Activity> BatchSpans =>
        [.. _spans.Snapshot().Where(a => a.Source.Name == "DataflowProducer" && (string?)a.GetTagItem("dataflowproducer.pipeline.name") == _pipelineName)];

    /// <summary>Spans of another source (a test's own poster spans).</summary>
    public IReadOnlyList<Activity> SpansOf(string source) => [.. _spans.Snapshot().Where(a => a.Source.Name == source)];

    /// <summary>One instrument as the SDK exported it, with the pipeline's points only; flushes once, on first use, so
    /// read it when the pipeline has finished.</summary>
    public ExportedMetric Metric(string name)
    {
        if (!_flushed)
        {
            _meterProvider.ForceFlush();
            _flushed = true;
        }

        MetricSnapshot? snapshot = _metrics.Snapshot().LastOrDefault(m => m.Name == name);
        if (snapshot is null)
        {
            return new ExportedMetric(name, null, null, []);
        }

        var points = new List<ExportedPoint>();
        foreach (MetricPoint point in snapshot.MetricPoints)
        {
            var tags = new Dictionary<string, object?>();
            foreach (KeyValuePair<string, object?> tag in point.Tags)
            {
                tags[tag.Key] = tag.Value;
            }

            if (!tags.TryGetValue("dataflowproducer.pipeline.name", out object? pipeline) || (string?)pipeline != _pipelineName)
            {
                continue;
            }

            bool histogram = snapshot.MetricType == MetricType.Histogram;
            var bounds = new List<double>();
            if (histogram)
            {
                foreach (HistogramBucket bucket in point.GetHistogramBuckets())
                {
                    if (!double.IsPositiveInfinity(bucket.ExplicitBound))
                    {
                        bounds.Add(bucket.ExplicitBound);
                    }
                }
            }

            long value = snapshot.MetricType switch
            {
                MetricType.LongSum or MetricType.LongSumNonMonotonic => point.GetSumLong(),
                MetricType.Histogram => point.GetHistogramCount(),
                _ => 0,
            };
            points.Add(new ExportedPoint(tags, value, bounds));
        }

        return new ExportedMetric(name, snapshot.Unit, snapshot.MetricType, points);
    }

    public void Dispose()
    {
        _tracerProvider.Dispose();
        _meterProvider.Dispose();
    }

    /// <summary>An instrument's pipeline points; <see cref="Type"/> is null when the SDK never saw the instrument.</summary>
    public sealed record ExportedMetric(string Name, string? Unit, MetricType? Type, IReadOnlyList<ExportedPoint> Points)
    {
        public long Sum => Points.Sum(p => p.Value);

        public long SumWhere(string tag, object? value) => Points.Where(p => Equals(p.Tags.GetValueOrDefault(tag), value)).Sum(p => p.Value);
    }

    /// <summary>One point: its attributes, its sum (a counter) or count (a histogram), and a histogram's bucket bounds.</summary>
    public sealed record ExportedPoint(IReadOnlyDictionary<string, object?> Tags, long Value, IReadOnlyList<double> Bounds);

    // The exporters add from the SDK's threads while a test reads: a collection that locks.
    private sealed class LockedList<T> : ICollection<T>
    {
        private readonly List<T> _items = [];

        public int Count
        {
            get
            {
                lock (_items)
                {
                    return _items.Count;
                }
            }
        }

        public bool IsReadOnly => false;

        public List<T> Snapshot()
        {
            lock (_items)
            {
                return [.. _items];
            }
        }

        public void Add(T item)
        {
            lock (_items)
            {
                _items.Add(item);
            }
        }

        public void Clear()
        {
            lock (_items)
            {
                _items.Clear();
            }
        }

        public bool Contains(T item)
        {
            lock (_items)
            {
                return _items.Contains(item);
            }
        }

        public void CopyTo(T[] array, int arrayIndex)
        {
            lock (_items)
            {
                _items.CopyTo(array, arrayIndex);
            }
        }

        public bool Remove(T item)
        {
            lock (_items)
            {
                return _items.Remove(item);
            }
        }

        public IEnumerator<T> GetEnumerator() => Snapshot().GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
