using System.Diagnostics;
using DataflowProducer.Diagnostics;

namespace DataflowProducer;

// Telemetry (DESIGN 5): the tags on every measurement, one send span per batch, and the messaging conventions'
// instruments (OpenTelemetry semantic conventions v1.44), each measured from the batch's own outcome.
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

    // Whether a meter listener records the messaging instruments; without one their tags are not even built.
    private bool IsMeasuringOperations => _metrics.SentMessages.Enabled || _metrics.OperationDuration.Enabled;

    // The same tags on every measurement, built once; a copy of the struct is cheap.
    private TagList Tags() => _tags;

    // One span per batch, from the hand-over to the sink until its outcome is known. The sink runs with it as the
    // current activity, so a sink can add its own tags or child spans. What holds for the whole batch (its destination)
    // is asked of the sink only when somebody listens: without a listener the hot path costs a timestamp.
    private void StartSpan(PendingBatch pending)
    {
        pending.StartTimestamp = _timeProvider.GetTimestamp();
        bool tracing = ProducerActivitySource.Source.HasListeners();
        if (tracing || IsMeasuringOperations)
        {
            pending.OperationTags = OperationTagsFor(pending.Batch);
        }

        if (!tracing)
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
        KeyValuePair<string, object?>[] operationTags = pending.OperationTags ?? OperationTagsFor(pending.Batch);
        string name = TelemetryNames.SendOperation;
        foreach (KeyValuePair<string, object?> tag in operationTags)
        {
            if (tag.Key == TelemetryNames.DestinationNameTag && tag.Value is string destination)
            {
                name = TelemetryNames.SendOperation + " " + destination;
            }
        }

        var tags = new List<KeyValuePair<string, object?>>(operationTags.Length + 1);
        tags.AddRange(operationTags);
        tags.Add(new(TelemetryNames.BatchMessageCountTag, pending.Batch.Length));
        (ActivityContext parent, List<ActivityLink>? links) = OfferedContexts(pending.Batch);

        // Kind Client, not Producer: the context written into the records is the one each was posted under (the
        // creation context, which this span links to), not this span's (messaging conventions, "Span kind"). The
        // ambient activity here is whichever poster's flow happened to start the produce stage's task, so it is not
        // the parent: the span is a child of the posters' context when the whole batch shares one, a root otherwise.
        Activity.Current = null;
        Activity? activity = ProducerActivitySource.Source.StartActivity(ActivityKind.Client, parent, tags, links, default, name);
        pending.Activity = activity;
    }

    // The context each item was offered under, once each, as links; and the parent when every item shares one.
    private (ActivityContext Parent, List<ActivityLink>? Links) OfferedContexts(T[] batch)
    {
        if (_hooks is not { } hooks || batch.Length == 0)
        {
            return default;
        }

        try
        {
            ActivityContext first = hooks.GetOfferedContext(batch[0]);
            bool shared = true;
            HashSet<ActivityContext>? seen = null;
            List<ActivityLink>? links = null;
            for (int i = 0; i < batch.Length; i++)
            {
                ActivityContext context = i == 0 ? first : hooks.GetOfferedContext(batch[i]);
                shared &= context == first;
                if (context != default && (seen ??= []).Add(context))
                {
                    (links ??= []).Add(new ActivityLink(context));
                }
            }

            return (shared ? first : default, links);
        }
        catch (Exception)
        {
            // The sink's hook threw: the span goes without links.
            return default;
        }
    }

    // The convention's attributes of one send operation: the pipeline's tags, the operation, and what the sink says
    // holds for the whole batch (its destination only when every item goes there).
    private KeyValuePair<string, object?>[] OperationTagsFor(T[] batch)
    {
        IReadOnlyList<KeyValuePair<string, object?>> batchTags = [];
        if (_hooks is { } hooks)
        {
            try
            {
                batchTags = hooks.GetBatchTags(batch) ?? [];
            }
            catch (Exception)
            {
                // The sink's hook threw: the batch is measured without its own tags.
            }
        }

        var tags = new KeyValuePair<string, object?>[_telemetryTags.Length + 2 + batchTags.Count];
        _telemetryTags.CopyTo(tags, 0);
        tags[_telemetryTags.Length] = new(TelemetryNames.OperationNameTag, TelemetryNames.SendOperation);
        tags[_telemetryTags.Length + 1] = new(TelemetryNames.OperationTypeTag, TelemetryNames.SendOperation);
        for (int i = 0; i < batchTags.Count; i++)
        {
            tags[_telemetryTags.Length + 2 + i] = batchTags[i];
        }

        return tags;
    }

    // A fresh TagList each time: a copied TagList shares its overflow array, so adding to a copy is not safe.
    // Built at the hand-over when somebody listened then, else here, the first time one does.
    private TagList OperationTags(PendingBatch pending, string? errorType)
    {
        var tags = new TagList(pending.OperationTags ??= OperationTagsFor(pending.Batch));
        if (errorType is not null)
        {
            tags.Add(TelemetryNames.ErrorTypeTag, errorType);
        }

        return tags;
    }

    // error.type: the sink's low-cardinality identifier (Kafka: the error code's name), else the exception's full type
    // name without generic arity. The same value on spans and on every instrument.
    private string ErrorTypeOf(Exception error)
    {
        if (_hooks is { } hooks)
        {
            try
            {
                if (hooks.GetErrorType(error) is { Length: > 0 } type)
                {
                    return type;
                }
            }
            catch (Exception)
            {
                // The sink's hook threw: fall back to the type name.
            }
        }

        return ErrorTypes.Of(error);
    }

    // The telemetry of a batch whose outcome the sink reported (tally: what Report settled, out-of-range indexes left
    // out). Everything comes from this batch alone: its span's status and error.type are its own first failure, or the
    // reason its items were abandoned. Not-sent items never reached the client, so the conventions do not count them
    // as sent; unknown ones were handed over and are counted, with the reason as error.type.
    private void RecordOutcome(PendingBatch pending, BatchResult result, Tally tally)
    {
        int length = pending.Batch.Length;
        List<(string Type, long Count)>? failures = null;
        if (tally.Failed > 0 && IsMeasuringOperations)
        {
            foreach (BatchItemError failure in result.Failed)
            {
                if ((uint)failure.Index >= (uint)length)
                {
                    continue;
                }

                string type = ErrorTypeOf(failure.Error);
                failures ??= [];
                int at = 0;
                while (at < failures.Count && failures[at].Type != type)
                {
                    at++;
                }

                if (at == failures.Count)
                {
                    failures.Add((type, 1));
                }
                else
                {
                    failures[at] = (type, failures[at].Count + 1);
                }
            }
        }

        Exception? error = tally.FirstError ?? tally.UnknownReason ?? tally.NotSentReason;
        string? errorType = error is null ? null : ErrorTypeOf(error);
        double seconds = _timeProvider.GetElapsedTime(pending.StartTimestamp).TotalSeconds;
        ProducerMetrics.Record(_metrics.AcknowledgeDuration, seconds, Tags());
        if (IsMeasuringOperations)
        {
            ProducerMetrics.Record(_metrics.OperationDuration, seconds, OperationTags(pending, errorType));
            if (tally.Delivered > 0)
            {
                ProducerMetrics.Add(_metrics.SentMessages, tally.Delivered, OperationTags(pending, null));
            }

            foreach ((string type, long count) in failures ?? [])
            {
                ProducerMetrics.Add(_metrics.SentMessages, count, OperationTags(pending, type));
            }

            if (tally.UnknownReason is { } unknown)
            {
                ProducerMetrics.Add(_metrics.SentMessages, tally.Unknown, OperationTags(pending, ErrorTypeOf(unknown)));
            }
        }

        int lost = tally.Failed + tally.NotSent + tally.Unknown;
        string outcome = lost == 0 ? "delivered" : lost == length ? (tally.Failed > 0 ? "failed" : "abandoned") : "partial";
        EndSpan(pending, outcome, error, errorType);
    }

    // The telemetry of a handed-over batch settled without an outcome (an abort, a sink that threw): the whole batch
    // was handed over and its outcome is unknown, so it counts as sent with the reason as error.type, and its span is
    // Error with that reason, as on every abort path.
    private void RecordAbandoned(PendingBatch pending, Exception reason)
    {
        string errorType = ErrorTypeOf(reason);
        if (IsMeasuringOperations)
        {
            ProducerMetrics.Record(_metrics.OperationDuration, _timeProvider.GetElapsedTime(pending.StartTimestamp).TotalSeconds, OperationTags(pending, errorType));
            ProducerMetrics.Add(_metrics.SentMessages, pending.Batch.Length, OperationTags(pending, errorType));
        }

        EndSpan(pending, "abandoned", reason, errorType);
    }

    private static void EndSpan(PendingBatch pending, string outcome, Exception? error, string? errorType)
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
                activity.SetTag(TelemetryNames.ErrorTypeTag, errorType);
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
