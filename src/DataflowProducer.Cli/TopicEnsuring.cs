using System.Globalization;
using Confluent.Kafka;
using DataflowProducer.Cli.Output;
using DataflowProducer.Kafka;

namespace DataflowProducer.Cli;

/// <summary><c>--ensure-topic</c> before the pipeline starts: what was found or done is one line on standard error,
/// a difference left in place a warning, and a refusal an error line and the set-up-failed exit code.</summary>
internal static class TopicEnsuring
{
    /// <summary>Ensures the topic.</summary>
    /// <param name="config">The producer configuration (its connection and security settings are used).</param>
    /// <param name="options">The topic to ensure.</param>
    /// <param name="reporter">Where the outcome is reported.</param>
    /// <param name="stopping">A first signal stops waiting.</param>
    /// <returns>Null when the run may go on; otherwise its exit code: 2 for a configuration the client rejects,
    /// 1 when the topic could not be ensured (nothing was produced).</returns>
    public static async Task<int?> EnsureAsync(ProducerConfig config, EnsureTopicOptions options, Reporter reporter, CancellationToken stopping)
    {
        EnsureTopicResult result;
        try
        {
            // No logger: the outcome is reported here, once, in the tool's words.
            result = await KafkaTopics.EnsureAsync(config, options, logger: null, stopping).ConfigureAwait(false);
        }
        catch (ArgumentException ex)
        {
            reporter.Line($"error: --ensure-topic: {PipelineRun.WithoutParameterName(ex)}");
            return ExitCodes.BadArguments;
        }
        catch (KafkaTopicException ex)
        {
            reporter.Line($"error: --ensure-topic: {ex.Message} Nothing was produced.");
            return ExitCodes.UnexpectedError;
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            reporter.Line($"error: --ensure-topic: stopped by a signal before topic '{options.Topic}' was ensured. Nothing was produced.");
            return ExitCodes.UnexpectedError;
        }

        string partitions = result.Partitions.ToString(CultureInfo.InvariantCulture);
        reporter.Line(result.Outcome switch
        {
            EnsureTopicOutcome.Created => $"Topic '{result.Topic}' created with {partitions} partitions.",
            EnsureTopicOutcome.Altered => $"Topic '{result.Topic}' altered: {string.Join("; ", result.Changes)}.",
            _ => $"Topic '{result.Topic}' exists with {partitions} partitions.",
        });
        foreach (string difference in result.Differences)
        {
            reporter.Line($"warning: topic '{result.Topic}' differs from --ensure-topic and is left as it is: {difference}.");
        }

        return null;
    }
}
