using System.Globalization;
using System.Text;
using System.Text.Json;

namespace DataflowProducer.Cli.Output;

/// <summary>The outcome of a run, as counted by the tool.</summary>
/// <remarks>
/// <para><c>Accepted</c> counts every record the tool read from its input (for csv, the header is not a record):
/// those the pipeline accepted, malformed lines, and a record the aborting pipeline refused. Malformed lines are
/// also counted <c>Failed</c> (they never reach Kafka) and a refused record <c>Abandoned</c>, so at the end
/// <c>Accepted == Delivered + Failed + Abandoned</c> always holds.</para>
/// </remarks>
/// <param name="Accepted">Records read from the input.</param>
/// <param name="Delivered">Records Kafka acknowledged.</param>
/// <param name="Failed">Malformed lines plus records Kafka refused.</param>
/// <param name="Abandoned">Records that will never be delivered by this run (abort, drain timeout):
/// <paramref name="NotSent"/> plus <paramref name="Unknown"/>.</param>
/// <param name="Batches">Batches handed to the Kafka producer.</param>
/// <param name="Elapsed">From the start of the pipeline to the end of its drain (verification excluded).</param>
/// <param name="NotSent">Abandoned records never handed to the Kafka client: safe to send again.</param>
/// <param name="Unknown">Abandoned records the client had, with no outcome in time: sending again may duplicate.</param>
internal sealed record Summary(long Accepted, long Delivered, long Failed, long Abandoned, long Batches, TimeSpan Elapsed, long NotSent = 0, long Unknown = 0)
{
    /// <summary>The summary of a run that produced nothing.</summary>
    public static Summary Nothing { get; } = new(0, 0, 0, 0, 0, TimeSpan.Zero);

    /// <summary>The machine-readable line for standard output. Its fields are fixed (scripts parse it); the split of
    /// abandoned is in the JSON and the table.</summary>
    /// <returns><c>SUMMARY accepted=… delivered=… failed=… abandoned=… batches=… seconds=…</c>.</returns>
    public string ToLine() => string.Create(
        CultureInfo.InvariantCulture,
        $"SUMMARY accepted={Accepted} delivered={Delivered} failed={Failed} abandoned={Abandoned} batches={Batches} seconds={Elapsed.TotalSeconds:F2}");

    /// <summary>The same fields as one JSON object, for <c>--json</c>.</summary>
    /// <returns>The JSON text, on one line.</returns>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("accepted", Accepted);
            json.WriteNumber("delivered", Delivered);
            json.WriteNumber("failed", Failed);
            json.WriteNumber("abandoned", Abandoned);
            json.WriteNumber("not_sent", NotSent);
            json.WriteNumber("unknown", Unknown);
            json.WriteNumber("batches", Batches);
            json.WriteNumber("seconds", Math.Round(Elapsed.TotalSeconds, 2));
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The human table for standard error.</summary>
    /// <param name="extraRows">Rows after the counts (malformed lines, verification, …).</param>
    /// <returns>The table, one row per line.</returns>
    public string ToTable(IEnumerable<(string Name, string Value)> extraRows)
    {
        double seconds = Elapsed.TotalSeconds;
        var rows = new List<(string Name, string Value)>
        {
            ("accepted", Count(Accepted)),
            ("delivered", Count(Delivered)),
            ("failed", Count(Failed)),
            ("abandoned", Abandoned == 0 ? Count(Abandoned) : $"{Count(Abandoned)} ({Count(NotSent)} not sent, {Count(Unknown)} unknown)"),
            ("batches", Count(Batches)),
            ("seconds", seconds.ToString("F2", CultureInfo.InvariantCulture)),
            ("records/s", seconds > 0 ? Count((long)(Delivered / seconds)) : "-"),
        };
        rows.AddRange(extraRows);

        int nameWidth = rows.Max(r => r.Name.Length);
        var text = new StringBuilder();
        text.AppendLine("Summary");
        foreach ((string name, string value) in rows)
        {
            text.Append("  ").Append(name.PadRight(nameWidth)).Append("  ").AppendLine(value);
        }

        return text.ToString().TrimEnd('\n');
    }

    /// <summary>Formats a count with thousands separators (invariant culture).</summary>
    /// <param name="value">The count.</param>
    /// <returns>E.g. <c>1,000,000</c>.</returns>
    public static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
