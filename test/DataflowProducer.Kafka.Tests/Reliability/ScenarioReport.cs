namespace DataflowProducer.Kafka.Tests.Reliability;

/// <summary>The one-line result every reliability scenario prints, so a run's output gives the table of the issue:
/// scenario, messages, delivered, failed, abandoned, duplicates, lost.</summary>
internal static class ScenarioReport
{
    /// <param name="written">Messages found in the topic (read back, or the sum of high watermarks).</param>
    /// <param name="distinctWritten">Distinct messages found in the topic.</param>
    public static void Print(TextWriter output, string scenario, long messages, BatchProducerStatistics s, long written, long distinctWritten, string? note = null)
    {
        // Lost: reported delivered but not in the topic. The topic may hold more than was delivered (abandoned records
        // whose outcome was unknown, duplicates), never less.
        long lost = Math.Max(0, s.Delivered - distinctWritten);
        output.WriteLine($"RESULT | {scenario} | messages {messages} | accepted {s.Accepted} | delivered {s.Delivered} | failed {s.Failed} | abandoned {s.Abandoned} | duplicates {written - distinctWritten} | lost {lost}{(note is null ? string.Empty : " | " + note)}");
    }
}
