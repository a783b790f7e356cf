using System.Globalization;

namespace DataflowProducer.Benchmarks.Quick;

/// <summary>The sizes of the quick run. The defaults are the report's; smaller ones are for trying changes out.</summary>
public sealed record QuickOptions
{
    /// <summary>Gets the messages each Kafka contender produces per round.</summary>
    public int Messages { get; private init; } = 1_000_000;

    /// <summary>Gets the number of measured, alternating rounds (after one warm-up round).</summary>
    public int Rounds { get; private init; } = 5;

    /// <summary>Gets the number of measured, alternating rounds of the batching comparison (after one warm-up round).
    /// More than the Kafka rounds because they are short (well under a second) and the two blocks are close.</summary>
    public int BatchingRounds { get; private init; } = 9;

    /// <summary>Gets the ints each batching contender posts per round.</summary>
    public int BatchingItems { get; private init; } = 10_000_000;

    /// <summary>Gets the messages posted for the allocation measurement.</summary>
    public int AllocationItems { get; private init; } = 1_000_000;

    /// <summary>Gets the number of measured shutdowns.</summary>
    public int ShutdownRuns { get; private init; } = 5;

    public static QuickOptions Parse(string[] args)
    {
        var options = new QuickOptions();
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            int value = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            options = args[i] switch
            {
                "--messages" => options with { Messages = value },
                "--rounds" => options with { Rounds = value },
                "--batching-rounds" => options with { BatchingRounds = value },
                "--batching-items" => options with { BatchingItems = value },
                _ => throw new ArgumentException($"Unknown option '{args[i]}'. Use --messages N, --rounds N, --batching-rounds N, --batching-items N.", nameof(args)),
            };
        }

        return options;
    }
}
