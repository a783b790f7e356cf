namespace DataflowProducer.Tests.TestSupport;

/// <summary>
/// Records what a <see cref="BatchProducerBlock{T}"/> hands back through <see cref="BatchProducerCallbacks{T}"/>:
/// every failed item with its error, every abandoned item with its reason. The one hand-back collector of these
/// tests; pass <see cref="Callbacks"/> to the block.
/// </summary>
/// <remarks>
/// Options: <see cref="OnItemFailed"/> / <see cref="OnItemsAbandoned"/> run test code from inside the callback (after
/// recording, outside the recorder's lock), and <see cref="Statistics"/> makes each callback check the running
/// invariant (Accepted &gt;= Delivered + Failed + Abandoned + InFlight) at the moment it is called, when counters
/// would be half updated if they ever were. Broken checks, and an abandon without a reason, land in
/// <see cref="Violations"/>; nothing is thrown into the block.
/// </remarks>
internal sealed class HandBackRecorder
{
    private readonly object _lock = new();
    private readonly List<(int Item, Exception Error)> _failed = [];
    private readonly List<(int Item, Exception Reason)> _abandoned = [];
    private readonly List<Exception> _abandonReasons = [];
    private readonly List<string> _violations = [];

    public HandBackRecorder()
    {
        Callbacks = new BatchProducerCallbacks<int>
        {
            ItemFailed = (item, error) =>
            {
                lock (_lock)
                {
                    _failed.Add((item, error));
                    Check("in ItemFailed");
                }

                OnItemFailed?.Invoke(item, error);
            },
            ItemsAbandoned = (items, reason) =>
            {
                lock (_lock)
                {
                    _abandoned.AddRange(items.Select(i => (i, reason)));
                    _abandonReasons.Add(reason);
                    if (reason is null)
                    {
                        _violations.Add("ItemsAbandoned without a reason");
                    }

                    Check("in ItemsAbandoned");
                }

                OnItemsAbandoned?.Invoke(items);
            },
        };
    }

    /// <summary>The callbacks to hand to the block.</summary>
    public BatchProducerCallbacks<int> Callbacks { get; }

    /// <summary>Runs after each failed item is recorded.</summary>
    public Action<int, Exception>? OnItemFailed { get; set; }

    /// <summary>Runs after each abandoned list is recorded.</summary>
    public Action<IReadOnlyList<int>>? OnItemsAbandoned { get; set; }

    /// <summary>When set (typically to <c>block.GetStatistics</c>), each callback checks the running invariant.</summary>
    public Func<BatchProducerStatistics>? Statistics { get; set; }

    public IReadOnlyList<(int Item, Exception Error)> Failed
    {
        get
        {
            lock (_lock)
            {
                return [.. _failed];
            }
        }
    }

    /// <summary>The abandoned items in the order they were handed back.</summary>
    public IReadOnlyList<int> Abandoned
    {
        get
        {
            lock (_lock)
            {
                return [.. _abandoned.Select(static a => a.Item)];
            }
        }
    }

    /// <summary>Each abandoned item with the reason its <c>ItemsAbandoned</c> call gave.</summary>
    public IReadOnlyList<(int Item, Exception Reason)> AbandonedWithReasons
    {
        get
        {
            lock (_lock)
            {
                return [.. _abandoned];
            }
        }
    }

    /// <summary>The reason of each <c>ItemsAbandoned</c> call, one per call.</summary>
    public IReadOnlyList<Exception> AbandonReasons
    {
        get
        {
            lock (_lock)
            {
                return [.. _abandonReasons];
            }
        }
    }

    /// <summary>What the in-callback checks found broken; empty when all held.</summary>
    public IReadOnlyList<string> Violations
    {
        get
        {
            lock (_lock)
            {
                return [.. _violations];
            }
        }
    }

    private void Check(string when)
    {
        if (Statistics?.Invoke() is { } s && !(s.Accepted >= s.Delivered + s.Failed + s.Abandoned + s.InFlight))
        {
            _violations.Add($"running invariant broken {when}: {s}");
        }
    }
}
