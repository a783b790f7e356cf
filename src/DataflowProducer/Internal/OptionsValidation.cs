using System.Globalization;
using System.Threading.Tasks.Dataflow;

namespace DataflowProducer.Internal;

/// <summary>One broken rule of an options class: the message names the setting and the value it had.</summary>
internal readonly record struct OptionsError(string Message, object? ActualValue, bool IsNull = false)
{
    public ArgumentException ToException(string paramName) => IsNull
        ? new ArgumentNullException(paramName, Message)
        : new ArgumentOutOfRangeException(paramName, ActualValue, Message);
}

/// <summary>Argument checks shared by the blocks' constructors and the options' <c>Validate()</c>: every rule is
/// checked, and every message names the setting and its value.</summary>
internal static class OptionsValidation
{
    // The longest delay a timer takes.
    public static readonly TimeSpan MaxTimerDelay = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    public static IEnumerable<OptionsError> BatchingErrors(int batchSize, TimeSpan linger, int boundedCapacity, string optionsName)
    {
        if (batchSize < 1)
        {
            yield return new($"{optionsName}.BatchSize must be at least 1, but was {Format(batchSize)}.", batchSize);
        }

        if (linger != Timeout.InfiniteTimeSpan && linger <= TimeSpan.Zero)
        {
            yield return new($"{optionsName}.Linger must be greater than zero or Timeout.InfiniteTimeSpan, but was {linger}.", linger);
        }

        if (linger != Timeout.InfiniteTimeSpan && linger.TotalMilliseconds > uint.MaxValue - 1)
        {
            yield return new($"{optionsName}.Linger must be at most {TimeSpan.FromMilliseconds(uint.MaxValue - 1)}, but was {linger}.", linger);
        }

        if (batchSize >= 1 && boundedCapacity != DataflowBlockOptions.Unbounded && boundedCapacity < batchSize)
        {
            yield return new($"{optionsName}.BoundedCapacity must be DataflowBlockOptions.Unbounded (-1) or at least BatchSize ({Format(batchSize)}), but was {Format(boundedCapacity)}.", boundedCapacity);
        }
    }

    /// <summary>Throws the first error, as a constructor does.</summary>
    public static void ThrowFirst(IEnumerable<OptionsError> errors, string paramName)
    {
        foreach (OptionsError error in errors)
        {
            throw error.ToException(paramName);
        }
    }

    public static string Format(int value) => value.ToString(CultureInfo.InvariantCulture);

    public static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);
}
