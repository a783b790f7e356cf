using System.Globalization;
using System.Threading.Tasks.Dataflow;

namespace DataflowProducer.Internal;

/// <summary>Argument checks shared by the blocks' constructors; every message names the setting and its value.</summary>
internal static class OptionsValidation
{
    public static void ValidateBatching(int batchSize, TimeSpan linger, int boundedCapacity, string optionsName, string paramName)
    {
        if (batchSize < 1)
        {
            throw new ArgumentOutOfRangeException(paramName, batchSize, $"{optionsName}.BatchSize must be at least 1, but was {Format(batchSize)}.");
        }

        if (linger != Timeout.InfiniteTimeSpan && linger <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(paramName, linger, $"{optionsName}.Linger must be greater than zero or Timeout.InfiniteTimeSpan, but was {linger}.");
        }

        if (linger != Timeout.InfiniteTimeSpan && linger.TotalMilliseconds > uint.MaxValue - 1)
        {
            throw new ArgumentOutOfRangeException(paramName, linger, $"{optionsName}.Linger must be at most {TimeSpan.FromMilliseconds(uint.MaxValue - 1)}, but was {linger}.");
        }

        if (boundedCapacity != DataflowBlockOptions.Unbounded && boundedCapacity < batchSize)
        {
            throw new ArgumentOutOfRangeException(paramName, boundedCapacity, $"{optionsName}.BoundedCapacity must be DataflowBlockOptions.Unbounded (-1) or at least BatchSize ({Format(batchSize)}), but was {Format(boundedCapacity)}.");
        }
    }

    public static string Format(int value) => value.ToString(CultureInfo.InvariantCulture);
}
