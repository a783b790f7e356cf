namespace DataflowProducer.Kafka.Tests.TestSupport;

internal static class Records
{
    public static KafkaRecord<string, string>[] Create(int count, string? topic = "t") =>
        Enumerable.Range(0, count).Select(i => new KafkaRecord<string, string>($"k{i}", $"v{i}", topic)).ToArray();

    public static string[] Values(int count) => Enumerable.Range(0, count).Select(i => $"v{i}").ToArray();

    /// <summary>The exception a task ends with, or null when it succeeds.</summary>
    public static async Task<Exception?> ExceptionOf(Task task)
    {
        try
        {
            await task;
            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }
    }
}
