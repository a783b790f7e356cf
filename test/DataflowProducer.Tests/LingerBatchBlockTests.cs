using System.Threading.Tasks.Dataflow;
using Microsoft.Extensions.Time.Testing;

namespace DataflowProducer.Tests;

// Unit tests for LingerBatchBlock<T>, split by feature into LingerBatchBlockTests.*.cs. Time is always fake: timers
// fire inside RecordingTimeProvider.Advance on the calling thread, and "emits nothing" is checked on an unlinked block
// (TryReceive/OutputCount are synchronous), so nothing here waits on the real clock.
public partial class LingerBatchBlockTests
{
    private const int Size = 4;
    private static readonly TimeSpan Linger = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    private static LingerBatchBlock<int> CreateSut(
        TimeProvider time,
        int batchSize = Size,
        TimeSpan? linger = null,
        int boundedCapacity = DataflowBlockOptions.Unbounded) =>
        new(new LingerBatchBlockOptions
        {
            BatchSize = batchSize,
            Linger = linger ?? Linger,
            BoundedCapacity = boundedCapacity,
            TimeProvider = time,
        });

    private static void PostAll(LingerBatchBlock<int> block, params int[] items)
    {
        foreach (int item in items)
        {
            Assert.That(block.Post(item), Is.True, $"Post({item})");
        }
    }

    private static List<int[]> ReceiveAll(LingerBatchBlock<int> block)
    {
        var batches = new List<int[]>();
        while (block.TryReceive(out int[]? batch))
        {
            batches.Add(batch);
        }

        return batches;
    }

    private static void Fault(IDataflowBlock block, Exception exception) => block.Fault(exception);

    /// <summary>
    /// A fake clock that records the timers it creates (how many, their Change and Dispose calls) and can hold timer
    /// callbacks: with <see cref="HoldCallbacks"/> set, a timer that comes due is "dispatched" but its callback only
    /// runs when the test calls <see cref="RecordingTimer.RunHeldCallbacks"/>. That reproduces, deterministically, a
    /// system timer whose callback is already queued on the thread pool while other threads change the block.
    /// </summary>
    private sealed class RecordingTimeProvider : TimeProvider
    {
        private readonly FakeTimeProvider _fake = new();
        private readonly List<RecordingTimer> _timers = [];

        public bool HoldCallbacks { get; set; }

        public IReadOnlyList<RecordingTimer> Timers
        {
            get
            {
                lock (_timers)
                {
                    return [.. _timers];
                }
            }
        }

        public RecordingTimer Timer => Timers.Single();

        public override long TimestampFrequency => _fake.TimestampFrequency;

        public override long GetTimestamp() => _fake.GetTimestamp();

        public override DateTimeOffset GetUtcNow() => _fake.GetUtcNow();

        public void Advance(TimeSpan delta) => _fake.Advance(delta);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = new RecordingTimer(this, callback, state);
            timer.Inner = _fake.CreateTimer(static s => ((RecordingTimer)s!).OnDue(), timer, dueTime, period);
            lock (_timers)
            {
                _timers.Add(timer);
            }

            return timer;
        }
    }

    private sealed class RecordingTimer(RecordingTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        private int _held;

        public ITimer Inner { get; set; } = null!;

        public int ChangeCount { get; private set; }

        public int DisposeCount { get; private set; }

        public int HeldCallbacks => _held;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            ChangeCount++;
            return Inner.Change(dueTime, period);
        }

        public void Dispose()
        {
            DisposeCount++;
            Inner.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }

        /// <summary>Runs the callbacks that came due while held, as a late thread-pool callback would.</summary>
        public void RunHeldCallbacks()
        {
            while (_held > 0)
            {
                _held--;
                callback(state);
            }
        }

        public void OnDue()
        {
            if (owner.HoldCallbacks)
            {
                _held++;
            }
            else
            {
                callback(state);
            }
        }
    }
}
