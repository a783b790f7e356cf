using System.Collections.Concurrent;

namespace DataflowProducer.Kafka.Tests.TestSupport;

/// <summary>Collects what a block hands back through its callbacks.</summary>
internal sealed class Outcomes<T>
{
    private readonly ConcurrentQueue<(T Item, Exception Error)> _failed = new();
    private readonly ConcurrentQueue<T> _abandoned = new();

    public Outcomes()
    {
        Callbacks = new BatchProducerCallbacks<T>
        {
            ItemFailed = (item, error) => _failed.Enqueue((item, error)),
            ItemsAbandoned = (items, _) =>
            {
                foreach (T item in items)
                {
                    _abandoned.Enqueue(item);
                }
            },
        };
    }

    public BatchProducerCallbacks<T> Callbacks { get; }

    public IReadOnlyList<(T Item, Exception Error)> Failed => [.. _failed];

    public IReadOnlyList<T> Abandoned => [.. _abandoned];
}
