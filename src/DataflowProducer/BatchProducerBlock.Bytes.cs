using System.Globalization;
using DataflowProducer.Diagnostics;

namespace DataflowProducer;

// The bytes bound (BatchProducerOptions.BoundedBytes, MaxBatchBytes): the item's size is measured here, on the
// poster's thread and outside every lock, and handed to the batch block with the offer; the batch block holds the
// bytes until Report releases the batch (every outcome path goes through Report or the abort, which resets them).
public sealed partial class BatchProducerBlock<T>
{
    // The options' size function, else the sink's; an ArgumentException when bytes are bounded and there is none.
    private static Func<T, long>? ItemSizeOf(BatchProducerOptions options, IBatchSinkHooks<T>? hooks)
    {
        if (options.BoundedBytes == -1 && options.MaxBatchBytes == -1)
        {
            return null;
        }

        if (options.ItemSize is not null)
        {
            return options.ItemSize as Func<T, long>
                ?? throw new ArgumentException(
                    string.Create(CultureInfo.InvariantCulture, $"BatchProducerOptions.ItemSize must be a Func<{typeof(T).Name}, long> for this block's items, but was a {options.ItemSize.GetType().Name}."),
                    nameof(options));
        }

        Func<T, long>? fromSink = null;
        try
        {
            fromSink = hooks?.ItemSize;
        }
        catch (Exception)
        {
            // A hook is user code: one that throws supplies nothing.
        }

        return fromSink ?? throw new ArgumentNullException(
            nameof(options),
            string.Create(CultureInfo.InvariantCulture, $"BatchProducerOptions.ItemSize must be set when BoundedBytes ({options.BoundedBytes}) or MaxBatchBytes ({options.MaxBatchBytes}) is set and the sink supplies no size (IBatchSinkHooks.ItemSize), but was null."));
    }

    // The size of an offered item; false, with size 0, when the size function threw or returned a negative number: the
    // item is then declined alone when posted, or taken as 0 bytes when a source offers it (DESIGN 4.18).
    private bool TryMeasure(Func<T, long> itemSize, T item, out long size)
    {
        try
        {
            size = itemSize(item);
        }
        catch (Exception ex)
        {
            Log.ItemSizeFailed(_logger, ex, "BatchProducerOptions.ItemSize threw " + ex.GetType().Name);
            size = 0;
            return false;
        }

        if (size < 0)
        {
            Log.ItemSizeFailed(_logger, null, string.Create(CultureInfo.InvariantCulture, $"BatchProducerOptions.ItemSize returned {size}, a negative size"));
            size = 0;
            return false;
        }

        return true;
    }
}
