using System.CommandLine;
using DataflowProducer.Cli.Input;
using DataflowProducer.Kafka;
using static DataflowProducer.Cli.PipelineCommandOptions;

namespace DataflowProducer.Cli;

/// <summary>The <c>produce</c> command: its options, their validation, and the hand-over to <see cref="ProduceJob"/>.</summary>
internal static class ProduceCommand
{
    private const string Description =
        """
        Produce records to a Kafka topic through the batching pipeline, then print a summary.

        Records come from --input FILE (or standard input, the default or '-'), one per line, or from --generate N.
        A record's value is its line's bytes exactly as read, without the line terminator; --key-field takes the key
        from a jsonl or csv field. Without --bootstrap-servers, an embedded mock Kafka cluster is started.

        The first Ctrl+C or SIGTERM stops reading, drains and flushes; the second aborts and reports what was abandoned.
        Standard output gets one line: SUMMARY accepted=<n> delivered=<n> failed=<n> abandoned=<n> batches=<n> seconds=<s>
        (accepted counts every record read, malformed lines included, so accepted = delivered + failed + abandoned).
        """;

    /// <summary>Builds the command.</summary>
    /// <param name="console">Where the command runs.</param>
    /// <returns>The command.</returns>
    public static Command Create(CliConsole console)
    {
        var topic = new Option<string>("--topic", "-t") { Description = "The topic to produce to.", Required = true, HelpName = "TOPIC" };
        var input = new Option<string>("--input", "-i") { Description = "The input file; '-' for standard input.", DefaultValueFactory = _ => "-", HelpName = "FILE" };
        var format = new Option<string>("--format", "-f") { Description = "How lines are read: lines (each line a record), jsonl (each line a JSON value), csv (RFC 4180 with a header line; quoted fields must not span lines).", DefaultValueFactory = _ => "lines", HelpName = "lines|jsonl|csv" };
        format.AcceptOnlyFromAmong("lines", "jsonl", "csv");
        var keyField = new Option<string>("--key-field", "-k") { Description = "The field whose value, as a string, is the record's key (jsonl: a top-level field; csv: a header name).", HelpName = "NAME" };
        var generate = new Option<long?>("--generate") { Description = "Produce N synthetic sequence-numbered records instead of reading input.", HelpName = "N" };
        var size = new Option<int>("--size") { Description = "The size of each generated record, in bytes.", DefaultValueFactory = _ => 100, HelpName = "BYTES" };
        var shared = new PipelineCommandOptions("The Kafka brokers (host:port,...). Without it, an embedded mock cluster (3 brokers) is started.");
        var partitions = new Option<int>("--partitions") { Description = "Partitions of the topic created on the embedded cluster. Default: 4, or more when the input is known to be larger than 4 partitions of the mock cluster hold (about 5 MB each).", HelpName = "N" };
        var verify = new Option<bool>("--verify") { Description = "Afterwards, read the topic back and check the count and a content digest against what was delivered." };
        var strict = new Option<bool>("--strict") { Description = "Stop at the first malformed line (it counts as failed) instead of reporting it and going on." };
        var ensureTopic = new EnsureTopicArguments();
        var abandonedFile = new Option<string>("--abandoned-file") { Description = "On abort, write the abandoned records' values here, one per line.", HelpName = "FILE" };

        var command = new Command("produce", Description + Environment.NewLine + Environment.NewLine + ExitCodes.HelpText)
        {
            topic, input, format, keyField, generate, size,
        };
        foreach (Option option in shared.ConnectionOptions.Concat([partitions, ensureTopic.EnsureTopic, ensureTopic.TopicConfigs, verify]).Concat(shared.PipelineAndOutputOptions).Concat([strict, abandonedFile]))
        {
            command.Options.Add(option);
        }

        topic.Validators.Add(r =>
        {
            // Checked here, before anything starts, in the user's terms; the sink would only name its own option.
            string name = r.GetValueOrDefault<string>() ?? string.Empty;
            if (TopicProblem(name) is { } problem)
            {
                r.AddError($"--topic '{name}' is not a legal Kafka topic name: {problem}.");
            }
        });
        keyField.Validators.Add(r => RequireText(r, "--key-field"));
        abandonedFile.Validators.Add(r =>
        {
            // Written only at the end of an abort, so a path that cannot be written is best found now.
            string path = r.GetValueOrDefault<string>() ?? string.Empty;
            if (AbandonedFileProblem(path) is { } problem)
            {
                r.AddError($"--abandoned-file '{path}'{problem}.");
            }
        });
        generate.Validators.Add(r => AtLeast(r, r.GetValueOrDefault<long?>() ?? 0, 0));
        size.Validators.Add(r => AtLeast(r, r.GetValueOrDefault<int>(), GeneratedRecordReader.MinimumSize));
        partitions.Validators.Add(r => AtLeast(r, r.GetValueOrDefault<int>(), 1));
        command.Validators.Add(r =>
        {
            // Defaults are not applied to the values a command validator sees, hence Value(…, default).
            bool generating = IsExplicit(r, generate);
            string f = Value(r, format, "lines");
            if (generating && IsExplicit(r, input))
            {
                r.AddError("--generate and --input cannot be combined: records come from one or the other.");
            }

            if (generating && IsExplicit(r, format))
            {
                r.AddError("--format applies to input lines, not to --generate.");
            }

            if (generating && IsExplicit(r, keyField))
            {
                r.AddError("--key-field applies to jsonl or csv input, not to --generate (generated records have no key).");
            }

            if (!generating && IsExplicit(r, size))
            {
                r.AddError("--size applies only to --generate.");
            }

            if (!generating && f == "lines" && IsExplicit(r, keyField))
            {
                r.AddError("--key-field needs --format jsonl or csv: plain lines have no fields.");
            }

            shared.Validate(r);
            ensureTopic.Validate(r, embedded: !IsExplicit(r, shared.Bootstrap), partitions);
            if (IsExplicit(r, partitions) && IsExplicit(r, shared.Bootstrap))
            {
                r.AddError("--partitions applies to the embedded cluster only; create the topic on your cluster yourself.");
            }
        });

        command.SetAction(parseResult =>
        {
            string topicName = parseResult.GetRequiredValue(topic);
            var settings = new ProduceSettings
            {
                Topic = topicName,
                Input = parseResult.GetValue(input) ?? "-",
                Format = Enum.Parse<InputFormat>(parseResult.GetValue(format) ?? "lines", ignoreCase: true),
                KeyField = parseResult.GetValue(keyField),
                Generate = parseResult.GetValue(generate),
                Size = parseResult.GetValue(size),
                BootstrapServers = parseResult.GetValue(shared.Bootstrap),
                ClientProperties = shared.ParseClientProperties(parseResult),
                Partitions = parseResult.GetResult(partitions) is { Implicit: false } ? parseResult.GetValue(partitions) : null,
                EnsureTopic = ensureTopic.ToOptions(parseResult, topicName),
                Verify = parseResult.GetValue(verify),
                Pipeline = shared.Pipeline(parseResult),
                Quiet = parseResult.GetValue(shared.Quiet),
                Json = parseResult.GetValue(shared.Json),
                Strict = parseResult.GetValue(strict),
                AbandonedFile = parseResult.GetValue(abandonedFile),
                ShowConfig = parseResult.GetValue(shared.ShowConfig),
            };

            return new ProduceJob(settings, console).RunAsync();
        });

        return command;
    }

    /// <summary>Why <paramref name="topic"/> is not a legal Kafka topic name, or null when it is.</summary>
    /// <param name="topic">The name.</param>
    /// <returns>The problem, or null.</returns>
    internal static string? TopicProblem(string topic) => KafkaTopicName.IsValid(topic, out string? problem) ? null : problem;

    private static string? AbandonedFileProblem(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            return " must not be empty";
        }

        if (Directory.Exists(path))
        {
            return " is a directory";
        }

        string? directory;
        try
        {
            directory = Path.GetDirectoryName(Path.GetFullPath(path));
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return $" is not a valid path: {ex.Message}";
        }

        return directory is not null && !Directory.Exists(directory) ? $": the directory '{Path.GetDirectoryName(path)}' does not exist" : null;
    }
}
