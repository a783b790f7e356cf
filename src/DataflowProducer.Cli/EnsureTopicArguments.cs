using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using DataflowProducer.Kafka;
using DataflowProducer.Kafka.Testing;

namespace DataflowProducer.Cli;

/// <summary><c>--ensure-topic PARTITIONS[,REPLICATION]</c> and the repeatable <c>--topic-config KEY=VALUE</c>: their
/// parsing and checks, and the <see cref="EnsureTopicOptions"/> they come to.</summary>
internal sealed class EnsureTopicArguments
{
    public EnsureTopicArguments()
    {
        EnsureTopic = new Option<string>("--ensure-topic")
        {
            Description = "Before producing, create the topic with PARTITIONS (and REPLICATION, default the broker's) when it is missing, or check that it has them when it exists: fewer partitions is an error, more a warning. On the embedded cluster the topic is created so.",
            HelpName = "PARTITIONS[,REPLICATION]",
        };
        TopicConfigs = new Option<string[]>("--topic-config")
        {
            Description = "A topic config for --ensure-topic, repeatable (e.g. --topic-config retention.ms=86400000): set on creation, compared (a warning when it differs) when the topic exists. Needs a broker with DescribeConfigs (Kafka 0.11+).",
            HelpName = "KEY=VALUE",
            AllowMultipleArgumentsPerToken = false,
        };
        EnsureTopic.Validators.Add(r =>
        {
            if (Parse(r.GetValueOrDefault<string>(), out _, out _) is { } error)
            {
                r.AddError(error);
            }
        });
        TopicConfigs.Validators.Add(r =>
        {
            foreach (string config in r.GetValueOrDefault<string[]>() ?? [])
            {
                if (ParseConfig(config) is null)
                {
                    r.AddError($"--topic-config needs KEY=VALUE, but was '{config}'.");
                }
            }
        });
    }

    public Option<string> EnsureTopic { get; }

    public Option<string[]> TopicConfigs { get; }

    /// <summary>The checks across options, for the command's validator.</summary>
    /// <param name="result">The command's result.</param>
    /// <param name="embedded">True when the run starts the embedded cluster (no <c>--bootstrap-servers</c>).</param>
    /// <param name="partitions">The command's <c>--partitions</c> (embedded cluster only), or null.</param>
    public void Validate(CommandResult result, bool embedded, Option? partitions)
    {
        bool ensuring = PipelineCommandOptions.IsExplicit(result, EnsureTopic);
        if (PipelineCommandOptions.IsExplicit(result, TopicConfigs) && !ensuring)
        {
            result.AddError("--topic-config needs --ensure-topic.");
        }

        if (!ensuring)
        {
            return;
        }

        if (embedded && PipelineCommandOptions.IsExplicit(result, TopicConfigs))
        {
            result.AddError("--topic-config needs --bootstrap-servers: the embedded mock cluster has no topic configs.");
        }

        if (partitions is not null && PipelineCommandOptions.IsExplicit(result, partitions))
        {
            result.AddError("--partitions and --ensure-topic cannot be combined: --ensure-topic gives the partitions.");
        }

        string? text = PipelineCommandOptions.Value(result, EnsureTopic, string.Empty);
        if (embedded && Parse(text, out _, out int? replication) is null && replication > MockKafkaCluster.DefaultBrokerCount)
        {
            result.AddError(string.Create(CultureInfo.InvariantCulture, $"--ensure-topic replication factor {replication} exceeds the embedded cluster's {MockKafkaCluster.DefaultBrokerCount} brokers."));
        }
    }

    /// <summary>The options of a valid parse, or null without <c>--ensure-topic</c>.</summary>
    /// <param name="parseResult">The parse.</param>
    /// <param name="topic">The topic.</param>
    /// <returns>New options, or null.</returns>
    public EnsureTopicOptions? ToOptions(ParseResult parseResult, string topic)
    {
        if (parseResult.GetValue(EnsureTopic) is not { } text)
        {
            return null;
        }

        Parse(text, out int partitions, out int? replication);
        var options = new EnsureTopicOptions { Topic = topic, Partitions = partitions, ReplicationFactor = replication };
        foreach (string config in parseResult.GetValue(TopicConfigs) ?? [])
        {
            (string key, string value) = ParseConfig(config)!.Value;
            options.Configs[key] = value;
        }

        return options;
    }

    // Null when valid; otherwise the line that says why.
    private static string? Parse(string? text, out int partitions, out int? replication)
    {
        partitions = 0;
        replication = null;
        string[] parts = (text ?? string.Empty).Split(',');
        int second = 0;
        bool wellFormed = parts.Length <= 2
            && int.TryParse(parts[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out partitions)
            && (parts.Length == 1 || int.TryParse(parts[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out second));
        if (!wellFormed)
        {
            return $"--ensure-topic must be PARTITIONS or PARTITIONS,REPLICATION (whole numbers, e.g. 6 or 6,3), but was '{text}'.";
        }

        replication = parts.Length == 2 ? second : null;
        if (partitions < 1)
        {
            return string.Create(CultureInfo.InvariantCulture, $"--ensure-topic partitions must be at least 1, but was {partitions}.");
        }

        return replication is < 1 or > short.MaxValue
            ? string.Create(CultureInfo.InvariantCulture, $"--ensure-topic replication factor must be from 1 to {short.MaxValue}, but was {replication}.")
            : null;
    }

    // KEY=VALUE, both trimmed: a value sent with the space typed after '=' would be refused, or never match the topic's.
    internal static (string Key, string Value)? ParseConfig(string text)
    {
        int equals = text.IndexOf('=', StringComparison.Ordinal);
        return equals <= 0 || string.IsNullOrWhiteSpace(text[..equals]) ? null : (text[..equals].Trim(), text[(equals + 1)..].Trim());
    }
}
