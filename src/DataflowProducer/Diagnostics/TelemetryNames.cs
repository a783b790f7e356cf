namespace DataflowProducer.Diagnostics;

/// <summary>Names of the meter, activity source, instruments and tags, in one place so dashboards can rely on them.
/// Tag names follow the OpenTelemetry messaging semantic conventions where one applies.</summary>
internal static class TelemetryNames
{
    public const string MeterName = "DataflowProducer";
    public const string ActivitySourceName = "DataflowProducer";
    public const string Version = "1.0";

    public const string MessagesAccepted = "dataflowproducer.messages.accepted";
    public const string MessagesDelivered = "dataflowproducer.messages.delivered";
    public const string MessagesFailed = "dataflowproducer.messages.failed";
    public const string MessagesAbandoned = "dataflowproducer.messages.abandoned";
    public const string MessagesNotSent = "dataflowproducer.messages.not_sent";
    public const string MessagesUnknown = "dataflowproducer.messages.unknown";
    public const string MessagesInFlight = "dataflowproducer.messages.in_flight";
    public const string MessagesHeld = "dataflowproducer.messages.held";
    public const string BytesHeld = "dataflowproducer.bytes.held";
    public const string BackpressureWaits = "dataflowproducer.backpressure.waits";
    public const string BatchSize = "dataflowproducer.batch.size";
    public const string BatchAcknowledgeDuration = "dataflowproducer.batch.acknowledge.duration";
    public const string BatchSizeLimit = "dataflowproducer.batch.size.limit";
    public const string BatchLingerLimit = "dataflowproducer.batch.linger.limit";
    public const string BatchLimitChanges = "dataflowproducer.batch.limit.changes";

    // OpenTelemetry messaging semantic conventions (v1.44): the instruments dashboards already know.
    public const string ClientSentMessages = "messaging.client.sent.messages";
    public const string ClientOperationDuration = "messaging.client.operation.duration";

    public const string MessageUnit = "{message}";
    public const string SecondsUnit = "s";
    public const string ChangeUnit = "{change}";
    public const string ByteUnit = "By";
    public const string WaitUnit = "{wait}";

    public const string PipelineNameTag = "dataflowproducer.pipeline.name";
    public const string OutcomeTag = "dataflowproducer.outcome";
    public const string LimitDirectionTag = "dataflowproducer.batch.limit.direction"; // "grow" or "shrink"
    public const string ErrorTypeTag = "error.type";
    public const string ReasonTag = "dataflowproducer.backpressure.reason";

    // Values of ReasonTag.
    public const string CapacityReason = "capacity";
    public const string BytesReason = "bytes";
    public const string ClientQueueReason = "client_queue";
    public const string MessagingSystemTag = "messaging.system";
    public const string DestinationNameTag = "messaging.destination.name";
    public const string OperationTypeTag = "messaging.operation.type";
    public const string OperationNameTag = "messaging.operation.name";
    public const string BatchMessageCountTag = "messaging.batch.message_count";
    public const string PartitionIdTag = "messaging.destination.partition.id";

    public const string SendOperation = "send";
}
