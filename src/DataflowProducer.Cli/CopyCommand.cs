using System.CommandLine;
using static DataflowProducer.Cli.PipelineCommandOptions;

namespace DataflowProducer.Cli;

/// <summary>The <c>copy</c> command: its options, their validation, and the hand-over to <see cref="CopyJob"/>.</summary>
internal static class CopyCommand
{
    /// <summary>What the tool says when <c>copy</c> is given no cluster.</summary>
    internal const string NeedsClusterMessage =
        "copy needs a Kafka cluster: give --bootstrap-servers HOST:PORT. (Without it, produce starts an embedded mock cluster, but that starts empty, so there would be nothing to copy.)";

    private const string Description =
        """
        Copy the records of one Kafka topic to another through the batching pipeline, committing the source's offsets
        only for records delivered to the destination, then print a summary.

        The source topic is consumed in the consumer group --group, from the group's committed offsets (from the
        beginning when the group has none). Keys, values and headers are copied as bytes, and each record keeps its
        timestamp. A partition's offset is committed only up to the last record before which every record was
        delivered: killed at any moment (even with SIGKILL) and started again with the same group, the copy goes on
        from there, and the destination ends up with every record of the source. Records that were in flight at the
        kill may be copied twice (at-least-once); per key, the order is kept apart from such re-sent records.
        Stored offsets are committed every second (-X auto.commit.interval.ms=MS to change), when the copy ends, and
        when the group takes partitions away.

        By default the copy stops once it has read every partition to its end (--until-end); with --follow it goes on
        until a signal. The first Ctrl+C or SIGTERM stops consuming, drains and flushes, and commits what was delivered;
        the second aborts (what was not delivered is not committed, so the next run reads it again).
        Standard output gets one line: SUMMARY accepted=<n> delivered=<n> failed=<n> abandoned=<n> batches=<n> seconds=<s>
        (accepted counts the records read from the source topic).

        -X settings apply to both clients (each ignores a setting meant for the other kind of client). For a
        Kafka 0.9 broker: -X api.version.request=false -X broker.version.fallback=0.9.0.1 -X session.timeout.ms=30000.
        """;

    /// <summary>Builds the command.</summary>
    /// <param name="console">Where the command runs.</param>
    /// <returns>The command.</returns>
    public static Command Create(CliConsole console)
    {
        var from = new Option<string>("--from-topic") { Description = "The topic to copy from.", Required = true, HelpName = "TOPIC" };
        var to = new Option<string>("--to-topic") { Description = "The topic to copy to (it must exist, or the cluster must create it on first use).", Required = true, HelpName = "TOPIC" };
        var group = new Option<string>("--group", "-g") { Description = "The consumer group whose committed offsets say where the copy goes on.", Required = true, HelpName = "GROUP" };
        var untilEnd = new Option<bool>("--until-end") { Description = "Stop once every partition has been read to its end (the default)." };
        var follow = new Option<bool>("--follow") { Description = "Keep copying new records until a signal." };
        var shared = new PipelineCommandOptions("The Kafka brokers (host:port,...). Required: copy needs a cluster.");
        var ensureTopic = new EnsureTopicArguments();

        var command = new Command("copy", Description + Environment.NewLine + Environment.NewLine + ExitCodes.HelpText)
        {
            from, to, group, untilEnd, follow,
        };
        foreach (Option option in shared.ConnectionOptions.Concat([ensureTopic.EnsureTopic, ensureTopic.TopicConfigs]).Concat(shared.PipelineAndOutputOptions))
        {
            command.Options.Add(option);
        }

        from.Validators.Add(r => TopicName(r, "--from-topic"));
        to.Validators.Add(r => TopicName(r, "--to-topic"));
        group.Validators.Add(r => RequireText(r, "--group"));
        command.Validators.Add(r =>
        {
            if (!IsExplicit(r, shared.Bootstrap))
            {
                r.AddError(NeedsClusterMessage);
            }

            if (IsExplicit(r, untilEnd) && IsExplicit(r, follow))
            {
                r.AddError("--until-end and --follow cannot be combined: the copy either stops at the end or goes on.");
            }

            string source = Value(r, from, string.Empty);
            if (source.Length > 0 && source == Value(r, to, string.Empty))
            {
                r.AddError($"--from-topic and --to-topic are both '{source}': a topic cannot be copied onto itself.");
            }

            shared.Validate(r);
            ensureTopic.Validate(r, embedded: false, partitions: null);
        });

        command.SetAction(parseResult =>
        {
            BatchProducerOptions pipeline = shared.Pipeline(parseResult);

            // Outcomes are what the committer commits from: only delivered records move a partition's offset.
            pipeline.EmitOutcomes = true;
            var settings = new CopySettings
            {
                FromTopic = parseResult.GetRequiredValue(from),
                ToTopic = parseResult.GetRequiredValue(to),
                EnsureTopic = ensureTopic.ToOptions(parseResult, parseResult.GetRequiredValue(to)),
                Group = parseResult.GetRequiredValue(group),
                BootstrapServers = parseResult.GetRequiredValue(shared.Bootstrap),
                ClientProperties = shared.ParseClientProperties(parseResult),
                Follow = parseResult.GetValue(follow),
                Pipeline = pipeline,
                Quiet = parseResult.GetValue(shared.Quiet),
                Json = parseResult.GetValue(shared.Json),
                ShowConfig = parseResult.GetValue(shared.ShowConfig),
            };

            return new CopyJob(settings, console).RunAsync();
        });

        return command;
    }

    private static void TopicName(System.CommandLine.Parsing.OptionResult result, string name)
    {
        // Checked here, before anything connects, in the user's terms.
        string topic = result.GetValueOrDefault<string>() ?? string.Empty;
        if (ProduceCommand.TopicProblem(topic) is { } problem)
        {
            result.AddError($"{name} '{topic}' is not a legal Kafka topic name: {problem}.");
        }
    }
}
