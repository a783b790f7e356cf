using System.ComponentModel.DataAnnotations;
using Confluent.Kafka;
using DataflowProducer.Kafka;

namespace DataflowProducer.Hosting;

/// <summary>Options of a Kafka producer block registered with
/// <see cref="KafkaProducerBlockServiceCollectionExtensions"/>: the pipeline's settings plus the client configuration,
/// bindable from an <c>IConfiguration</c> section and validated when the host starts.</summary>
/// <remarks>
/// A configuration section looks like this (the <c>Producer</c> keys are librdkafka's own property names):
/// <code>
/// "Orders": {
///   "DefaultTopic": "orders",
///   "BatchSize": 500,
///   "Linger": "00:00:00.020",
///   "DrainTimeout": "00:00:20",
///   "Producer": { "bootstrap.servers": "kafka-1:9092", "acks": "all" },
///   "EnsureTopic": { "Partitions": 6, "ReplicationFactor": 3, "Configs": { "retention.ms": "86400000" } }
/// }
/// </code>
/// </remarks>
public sealed class KafkaProducerBlockOptions : IValidatableObject
{
    // The pipeline's own defaults, read from a fresh options instance: the core keeps its defaults internal.
    private static readonly BatchProducerOptions PipelineDefaults = new();

    /// <summary>Gets or sets the topic for records that do not name one.</summary>
    /// <value>The default is null: every record must name its topic.</value>
    public string? DefaultTopic { get; set; }

    /// <summary>Gets or sets the largest number of records in one batch.</summary>
    /// <value>At least 1. The default is 1000.</value>
    public int BatchSize { get; set; } = PipelineDefaults.BatchSize;

    /// <summary>Gets or sets the maximum age of the oldest record of the open batch.</summary>
    /// <value>Greater than zero, or -00:00:00.001 (infinite) for count-only batching. The default is 50 ms.</value>
    public TimeSpan Linger { get; set; } = PipelineDefaults.Linger;

    /// <summary>Gets or sets the most records held by the pipeline at once.</summary>
    /// <value>At least <see cref="BatchSize"/>, or -1 for unbounded. The default is 100,000.</value>
    public int BoundedCapacity { get; set; } = PipelineDefaults.BoundedCapacity;

    /// <summary>Gets or sets the most bytes held by the pipeline at once, measured as key + value + headers (see
    /// <see cref="BatchProducerOptions.BoundedBytes"/>); a record larger than the bound alone passes when nothing else
    /// is held.</summary>
    /// <value>At least 1, or -1 for no bytes bound. The default is -1.</value>
    public long BoundedBytes { get; set; } = PipelineDefaults.BoundedBytes;

    /// <summary>Gets or sets the most bytes in one batch (see <see cref="BatchProducerOptions.MaxBatchBytes"/>).</summary>
    /// <value>At least 1 and at most <see cref="BoundedBytes"/> when that is set, or -1 for none. The default is -1.</value>
    public long MaxBatchBytes { get; set; } = PipelineDefaults.MaxBatchBytes;

    /// <summary>Gets or sets how many batches may be awaiting acknowledgement at once.</summary>
    /// <value>At least 1. The default is 32.</value>
    public int MaxInFlightBatches { get; set; } = PipelineDefaults.MaxInFlightBatches;

    /// <summary>Gets or sets how long the drain may take on shutdown, on top of which the host's own shutdown timeout
    /// applies (whichever ends first).</summary>
    /// <value>Zero or more, or infinite. The default is 30 s.</value>
    public TimeSpan DrainTimeout { get; set; } = PipelineDefaults.DrainTimeout;

    /// <summary>Gets or sets how long, after an abort, records already handed to the Kafka client get to report their
    /// real outcome before they are abandoned as unknown.</summary>
    /// <value>Zero or more. The default is 2 s; cut to what is left of <see cref="DrainTimeout"/> during a drain.</value>
    public TimeSpan SettleTime { get; set; } = PipelineDefaults.SettleTime;

    /// <summary>Gets or sets what happens when a record fails.</summary>
    /// <value>The default is <see cref="FailurePolicy.ReportAndContinue"/>.</value>
    public FailurePolicy FailurePolicy { get; set; } = FailurePolicy.ReportAndContinue;

    /// <summary>Gets or sets adaptive batching: larger batches and a longer linger while the broker is slow (see
    /// <see cref="AdaptiveBatchingOptions"/>). A configuration section <c>"Adaptive": { }</c> turns it on with its
    /// defaults; its keys (<c>MaxBatchSize</c>, <c>CoolDown</c>, …) override them.</summary>
    /// <value>The default is null: off.</value>
    public AdaptiveBatchingOptions? Adaptive { get; set; }

    /// <summary>Gets or sets a value indicating whether the poster's W3C trace context is written into each record's headers.</summary>
    /// <value>The default is false.</value>
    public bool InjectTraceContext { get; set; }

    /// <summary>Gets or sets the topic to ensure when the host starts (see <see cref="KafkaTopics"/>): created when
    /// missing, checked (and with <see cref="TopicExistsBehavior.AlterConfigs"/> changed) when it exists, before any
    /// hosted service's <c>StartAsync</c>. Its <see cref="EnsureTopicOptions.Topic"/> defaults to
    /// <see cref="DefaultTopic"/>; its <see cref="EnsureTopicOptions.TimeProvider"/> is the host's. A failure, or no
    /// answer within its <see cref="EnsureTopicOptions.Timeout"/>, stops the host's start with a
    /// <see cref="KafkaTopicException"/>.</summary>
    /// <value>The default is null: nothing is ensured. A configuration section named <c>EnsureTopic</c> sets it.</value>
    public EnsureTopicOptions? EnsureTopic { get; set; }

    /// <summary>Gets the client configuration: librdkafka property names and values (for example
    /// <c>bootstrap.servers</c>). Values are never logged.</summary>
    /// <value>Must contain <c>bootstrap.servers</c>.</value>
    public Dictionary<string, string> Producer { get; } = new(StringComparer.Ordinal);

    // Keys of the bound section that bind to nothing (misspelt, or not a setting), one line each; set when bound.
    internal IReadOnlyList<string> UnknownSettingErrors { get; set; } = [];

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (string unknown in UnknownSettingErrors)
        {
            yield return new ValidationResult(unknown);
        }

        if (!Producer.TryGetValue("bootstrap.servers", out string? servers) || string.IsNullOrWhiteSpace(servers))
        {
            yield return new ValidationResult("Producer must set bootstrap.servers.");
        }

        if (DefaultTopic is { Length: 0 })
        {
            yield return new ValidationResult("DefaultTopic must be null or a topic name, but was an empty string.");
        }

        foreach (string error in PipelineErrors())
        {
            yield return new ValidationResult(error);
        }

        foreach (string error in EnsureTopicErrors())
        {
            yield return new ValidationResult(error);
        }
    }

    // The Kafka package's own rules, named as in configuration (EnsureTopic.Partitions, not EnsureTopicOptions.Partitions).
    private IEnumerable<string> EnsureTopicErrors()
    {
        if (EnsureTopic is null)
        {
            yield break;
        }

        const string Prefix = nameof(EnsureTopicOptions) + ".";
        foreach (string line in EnsureTopic.Validate())
        {
            yield return nameof(EnsureTopic) + "." + (line.StartsWith(Prefix, StringComparison.Ordinal) ? line[Prefix.Length..] : line);
        }

        if (EnsureTopic.Topic is null && string.IsNullOrEmpty(DefaultTopic))
        {
            yield return "EnsureTopic.Topic or DefaultTopic must name the topic to ensure, but both were null.";
        }
    }

    // The pipeline's own rules (one place, the core's), every broken one reported once, as one line, named as in
    // configuration (without the options class's name).
    private IEnumerable<string> PipelineErrors()
    {
        const string Prefix = nameof(BatchProducerOptions) + ".";
        return ToBatchProducerOptions(TimeProvider.System).Validate()
            .Select(static line => line.StartsWith(Prefix, StringComparison.Ordinal) ? line[Prefix.Length..] : line);
    }

    internal BatchProducerOptions ToBatchProducerOptions(TimeProvider timeProvider, string? name = null, System.Diagnostics.Metrics.IMeterFactory? meterFactory = null) => new()
    {
        Name = name,
        MeterFactory = meterFactory,
        BatchSize = BatchSize,
        Linger = Linger,
        BoundedCapacity = BoundedCapacity,
        BoundedBytes = BoundedBytes,
        MaxBatchBytes = MaxBatchBytes,
        MaxInFlightBatches = MaxInFlightBatches,
        DrainTimeout = DrainTimeout,
        SettleTime = SettleTime,
        FailurePolicy = FailurePolicy,
        Adaptive = Adaptive, // the block copies it
        TimeProvider = timeProvider,
    };

    // A copy, so that the host's clock and the default topic do not change the bound options.
    internal EnsureTopicOptions? ToEnsureTopicOptions(TimeProvider timeProvider)
    {
        if (EnsureTopic is not { } ensure)
        {
            return null;
        }

        var copy = new EnsureTopicOptions
        {
            Topic = ensure.Topic ?? DefaultTopic,
            Partitions = ensure.Partitions,
            ReplicationFactor = ensure.ReplicationFactor,
            WhenExists = ensure.WhenExists,
            AllowPartitionGrowth = ensure.AllowPartitionGrowth,
            Timeout = ensure.Timeout,
            TimeProvider = timeProvider,
        };
        foreach (KeyValuePair<string, string> config in ensure.Configs)
        {
            copy.Configs[config.Key] = config.Value;
        }

        return copy;
    }

    internal ProducerConfig ToProducerConfig() => new(new Dictionary<string, string>(Producer, StringComparer.Ordinal));

    internal KafkaSinkOptions<TKey, TValue> ToSinkOptions<TKey, TValue>() => new() { DefaultTopic = DefaultTopic, InjectTraceContext = InjectTraceContext };
}
