using System.Diagnostics;
using DataflowProducer.Diagnostics;

namespace DataflowProducer;

// Telemetry (DESIGN 5): the tags on every measurement, and one span per batch.
public sealed partial class BatchProducerBlock<T>
{
    private static KeyValuePair<string, object?>[] TelemetryTagsFor(BatchProducerOptions options, IReadOnlyList<KeyValuePair<string, object?>>? sinkTags)
    {
        var tags = new List<KeyValuePair<string, object?>>();
        if (options.Name is { } name)
        {
            tags.Add(new(TelemetryNames.PipelineNameTag, name));
        }

        if (sinkTags is not null)
        {
            tags.AddRange(sinkTags);
        }

        return [.. tags];
    }

    // The same tags on every measurement, built once; a copy of the struct is cheap.
    private TagList Tags() => _tags;

    // One span per batch, from the hand-over to the sink until its outcome is known. The sink runs with it as the
    // current activity, so a sink can add its own tags or child spans.
    private void StartSpan(PendingBatch pending)
    {
        pending.StartTimestamp = _timeProvider.GetTimestamp();
        if (!ProducerActivitySource.Source.HasListeners())
        {
            return;
        }

        // An activity listener's callbacks (sampling, start, stop) are user code: a throwing one costs the span only.
        try
        {
            StartSpanCore(pending);
        }
        catch (Exception)
        {
            pending.Activity = null;
        }
    }

    private void StartSpanCore(PendingBatch pending)
    {
        Activity? activity = ProducerActivitySource.Source.StartActivity(_spanName, ActivityKind.Producer);
        if (activity is null)
        {
            return;
        }

        foreach (KeyValuePair<string, object?> tag in _telemetryTags)
        {
            activity.SetTag(tag.Key, tag.Value);
        }

        activity.SetTag(TelemetryNames.OperationTypeTag, "send");
        activity.SetTag(TelemetryNames.OperationNameTag, "send");
        activity.SetTag(TelemetryNames.BatchMessageCountTag, pending.Batch.Length);
        pending.Activity = activity;
    }

    private static void EndSpan(PendingBatch pending, string outcome, Exception? error)
    {
        if (pending.Activity is not { } activity)
        {
            return;
        }

        pending.Activity = null;
        try
        {
            activity.SetTag(TelemetryNames.OutcomeTag, outcome);
            if (error is not null)
            {
                activity.SetTag(TelemetryNames.ErrorTypeTag, error.GetType().Name);
                activity.SetStatus(ActivityStatusCode.Error, error.Message);
            }

            activity.Stop();
        }
        catch (Exception)
        {
            // A listener's ActivityStopped threw: the span is lost, nothing else.
        }
    }
}
