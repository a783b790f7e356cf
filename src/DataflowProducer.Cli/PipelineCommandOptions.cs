using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using DataflowProducer.Cli.Kafka;

namespace DataflowProducer.Cli;

/// <summary>The options every command that runs the pipeline shares (<c>produce</c>, <c>copy</c>): the brokers,
/// <c>-X</c>, the pipeline's batching and capacity, and the output switches; with their validation, in one place so
/// the commands spell and check them alike.</summary>
internal sealed class PipelineCommandOptions
{
    // The pipeline's own defaults, read from a fresh options instance: the core keeps its defaults internal.
    private static readonly BatchProducerOptions PipelineDefaults = new();
    private static readonly AdaptiveBatchingOptions AdaptiveDefaults = new();

    /// <summary>Creates the options.</summary>
    /// <param name="bootstrapDescription">What <c>--bootstrap-servers</c> says (whether an embedded cluster is started
    /// without it).</param>
    public PipelineCommandOptions(string bootstrapDescription)
    {
        Bootstrap = new Option<string>("--bootstrap-servers", "-b") { Description = bootstrapDescription, HelpName = "HOSTS" };
        Properties = new Option<string[]>("-X", "--property") { Description = "A librdkafka setting passed through as it is, repeatable (e.g. -X acks=all -X compression.type=lz4). Secret values are never printed.", HelpName = "KEY=VALUE", AllowMultipleArgumentsPerToken = false };
        BatchSize = new Option<int>("--batch-size") { Description = "Records per batch.", DefaultValueFactory = _ => PipelineDefaults.BatchSize };
        Linger = new Option<int>("--linger") { Description = "Milliseconds the first record of a batch waits for the batch to fill; -1 for count-only batching.", DefaultValueFactory = _ => (int)PipelineDefaults.Linger.TotalMilliseconds, HelpName = "MS" };
        MaxInFlight = new Option<int>("--max-in-flight") { Description = "Batches handed to the producer and not yet acknowledged.", DefaultValueFactory = _ => PipelineDefaults.MaxInFlightBatches };
        BoundedCapacity = new Option<int>("--bounded-capacity") { Description = "Records held by the pipeline at most (backpressure on the input); -1 for unbounded.", DefaultValueFactory = _ => PipelineDefaults.BoundedCapacity };
        BoundedBytes = BytesOption("--bounded-bytes", "Bytes of records (key + value + headers) held by the pipeline at most, as well as --bounded-capacity records; K, M or G for binary multiples (64M); -1 for no bytes bound.");
        MaxBatchBytes = BytesOption("--max-batch-bytes", "Bytes of records in one batch at most (a larger record is a batch of its own); K, M or G for binary multiples; -1 for no limit.");
        DrainTimeout = new Option<int>("--drain-timeout") { Description = "Milliseconds the final drain may take before what is left is abandoned; -1 to wait forever.", DefaultValueFactory = _ => (int)PipelineDefaults.DrainTimeout.TotalMilliseconds, HelpName = "MS" };
        Adaptive = new Option<bool>("--adaptive") { Description = string.Create(CultureInfo.InvariantCulture, $"Adaptive batching: while the broker is slow, batches x{AdaptiveDefaults.Factor} larger (up to {AdaptiveDefaults.MaxBatchSize:N0} records, within --bounded-capacity) and a longer linger (up to {AdaptiveDefaults.MaxLinger.TotalMilliseconds:0} ms); back to --batch-size and --linger when it recovers.") };
        Quiet = new Option<bool>("--quiet", "-q") { Description = "No progress on standard error." };
        Json = new Option<bool>("--json") { Description = "Print the summary on standard output as one JSON object instead of the SUMMARY line." };
        ShowConfig = new Option<bool>("--show-config") { Description = "Print the client configuration (secrets masked) on standard error before starting." };

        Bootstrap.Validators.Add(r => RequireText(r, "--bootstrap-servers"));
        BatchSize.Validators.Add(r => AtLeast(r, r.GetValueOrDefault<int>(), 1));
        MaxInFlight.Validators.Add(r => AtLeast(r, r.GetValueOrDefault<int>(), 1));
        Linger.Validators.Add(r => PositiveOrMinusOne(r, r.GetValueOrDefault<int>(), allowZero: false));
        BoundedCapacity.Validators.Add(r => PositiveOrMinusOne(r, r.GetValueOrDefault<int>(), allowZero: false));
        DrainTimeout.Validators.Add(r => PositiveOrMinusOne(r, r.GetValueOrDefault<int>(), allowZero: true));
        Properties.Validators.Add(r =>
        {
            string? error = Kafka.ClientProperties.TryParse(r.GetValueOrDefault<string[]>() ?? [], out _);
            if (error is not null)
            {
                r.AddError(error);
            }
        });
    }

    public Option<string> Bootstrap { get; }

    public Option<string[]> Properties { get; }

    public Option<int> BatchSize { get; }

    public Option<int> Linger { get; }

    public Option<int> MaxInFlight { get; }

    public Option<int> BoundedCapacity { get; }

    public Option<long> BoundedBytes { get; }

    public Option<long> MaxBatchBytes { get; }

    public Option<int> DrainTimeout { get; }

    public Option<bool> Adaptive { get; }

    public Option<bool> Quiet { get; }

    public Option<bool> Json { get; }

    public Option<bool> ShowConfig { get; }

    /// <summary>The connection options, in help order.</summary>
    public IEnumerable<Option> ConnectionOptions => [Bootstrap, Properties];

    /// <summary>The pipeline and output options, in help order.</summary>
    public IEnumerable<Option> PipelineAndOutputOptions => [BatchSize, Linger, MaxInFlight, BoundedCapacity, BoundedBytes, MaxBatchBytes, DrainTimeout, Adaptive, Quiet, Json, ShowConfig];

    /// <summary>The checks across these options, for the command's validator.</summary>
    /// <param name="result">The command's result.</param>
    public void Validate(CommandResult result)
    {
        int capacity = Value(result, BoundedCapacity, PipelineDefaults.BoundedCapacity);
        int batch = Value(result, BatchSize, PipelineDefaults.BatchSize);
        if (capacity != -1 && batch > capacity)
        {
            result.AddError(string.Create(CultureInfo.InvariantCulture, $"--batch-size ({batch}) must not exceed --bounded-capacity ({capacity})."));
        }

        long boundedBytes = Value(result, BoundedBytes, -1L);
        long maxBatchBytes = Value(result, MaxBatchBytes, -1L);
        if (boundedBytes != -1 && maxBatchBytes > boundedBytes)
        {
            result.AddError(string.Create(CultureInfo.InvariantCulture, $"--max-batch-bytes ({maxBatchBytes}) must not exceed --bounded-bytes ({boundedBytes})."));
        }
    }

    /// <summary>The <c>-X</c> settings of a valid parse.</summary>
    /// <param name="parseResult">The parse.</param>
    /// <returns>The settings.</returns>
    public ClientProperties ParseClientProperties(ParseResult parseResult)
    {
        Kafka.ClientProperties.TryParse(parseResult.GetValue(Properties) ?? [], out ClientProperties properties);
        return properties;
    }

    /// <summary>The pipeline's options of a valid parse.</summary>
    /// <param name="parseResult">The parse.</param>
    /// <returns>New options.</returns>
    public BatchProducerOptions Pipeline(ParseResult parseResult)
    {
        var options = new BatchProducerOptions
        {
            BatchSize = parseResult.GetValue(BatchSize),
            Linger = Milliseconds(parseResult.GetValue(Linger)),
            MaxInFlightBatches = parseResult.GetValue(MaxInFlight),
            BoundedCapacity = parseResult.GetValue(BoundedCapacity),
            BoundedBytes = parseResult.GetValue(BoundedBytes),
            MaxBatchBytes = parseResult.GetValue(MaxBatchBytes),
            DrainTimeout = Milliseconds(parseResult.GetValue(DrainTimeout)),
        };

        if (parseResult.GetValue(Adaptive))
        {
            // The default clamps, moved so they always hold: never below --batch-size and --linger, never above what
            // --bounded-capacity holds.
            int max = options.BoundedCapacity == -1 ? AdaptiveDefaults.MaxBatchSize : Math.Min(AdaptiveDefaults.MaxBatchSize, options.BoundedCapacity);
            options.Adaptive = new AdaptiveBatchingOptions
            {
                MaxBatchSize = Math.Max(max, options.BatchSize),
                MaxLinger = options.Linger == Timeout.InfiniteTimeSpan || options.Linger < AdaptiveDefaults.MaxLinger ? AdaptiveDefaults.MaxLinger : options.Linger,
            };
        }

        return options;
    }

    /// <summary>Whether the user gave <paramref name="option"/> (not its default).</summary>
    /// <param name="result">The command's result.</param>
    /// <param name="option">The option.</param>
    /// <returns>True when given.</returns>
    public static bool IsExplicit(CommandResult result, Option option) => result.GetResult(option) is { Implicit: false };

    /// <summary>An option's value as a command validator sees it: defaults are not applied there.</summary>
    /// <typeparam name="T">The value type.</typeparam>
    /// <param name="result">The command's result.</param>
    /// <param name="option">The option.</param>
    /// <param name="fallback">The value when the option is not given, or its own value is invalid (and reported).</param>
    /// <returns>The value.</returns>
    public static T Value<T>(CommandResult result, Option<T> option, T fallback)
    {
        if (result.GetResult(option) is not { Implicit: false } given)
        {
            return fallback;
        }

        try
        {
            return given.GetValueOrDefault<T>();
        }
        catch (InvalidOperationException)
        {
            // The value itself is invalid; its own error is reported.
            return fallback;
        }
    }

    /// <summary>Adds an error when the option's text is empty or white space.</summary>
    /// <param name="result">The option's result.</param>
    /// <param name="name">The option's name, as the user wrote it.</param>
    public static void RequireText(OptionResult result, string name)
    {
        if (string.IsNullOrWhiteSpace(result.GetValueOrDefault<string>()))
        {
            result.AddError($"{name} must not be empty.");
        }
    }

    /// <summary>Adds an error when the value is below the minimum.</summary>
    /// <param name="result">The option's result.</param>
    /// <param name="value">The value.</param>
    /// <param name="minimum">The minimum.</param>
    public static void AtLeast(OptionResult result, long value, long minimum)
    {
        if (value < minimum)
        {
            result.AddError(string.Create(CultureInfo.InvariantCulture, $"{result.Option.Name} must be at least {minimum}, but was {value}."));
        }
    }

    private static void PositiveOrMinusOne(OptionResult result, int value, bool allowZero)
    {
        if (value < -1 || (value == 0 && !allowZero))
        {
            result.AddError(string.Create(CultureInfo.InvariantCulture, $"{result.Option.Name} must be {(allowZero ? "zero or more" : "at least 1")}, or -1, but was {value}."));
        }
    }

    private static Option<long> BytesOption(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "BYTES",
        DefaultValueFactory = _ => -1,
        CustomParser = r =>
        {
            string? error = ByteSize.TryParse(r.Tokens.Count > 0 ? r.Tokens[^1].Value : string.Empty, out long value);
            if (error is not null)
            {
                r.AddError($"{name}: {error}.");
            }

            return value;
        },
    };

    private static TimeSpan Milliseconds(int value) => value == -1 ? Timeout.InfiniteTimeSpan : TimeSpan.FromMilliseconds(value);
}
