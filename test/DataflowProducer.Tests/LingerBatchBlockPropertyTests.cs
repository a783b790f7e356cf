using System.Globalization;
using System.Text;
using System.Threading.Tasks.Dataflow;
using CsCheck;
using DataflowProducer.Tests.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace DataflowProducer.Tests;

// Random schedules of Post / Advance / TriggerBatch / Complete / Fault / TryReceive against an unlinked block on a
// fake clock, driven synchronously from one thread, so every run is deterministic for its seed. Time advances 1 ms at
// a time and OutputCount is read after every step, which records the fake time (and the cause) of every emission.
public class LingerBatchBlockPropertyTests
{
    private const int Iterations = 1_000;

    [Test]
    public void RandomSchedules_Always_EveryAcceptedItemInExactlyOneBatchInOrderWithinSizeAndAge()
    {
        // CsCheck runs the seed's case first (then random ones) and prints the seed of any shrunk failure:
        // reproduce it by setting the CsCheck_Seed environment variable to it.
        Assert.That(
            () => Schedules.Sample(Run, writeLine: TestContext.Out.WriteLine, iter: Iterations, seed: Environment.GetEnvironmentVariable("CsCheck_Seed"), print: s => s.ToString()),
            Throws.Nothing);
    }

    private enum Kind
    {
        Post,
        Advance,
        Trigger,
        Complete,
        Fault,
        TryReceive,
    }

    // What happened in the step during which a batch appeared.
    private enum Cause
    {
        Post,
        Timer,
        Trigger,
        Complete,
        Other,
    }

    private static Gen<Step> Steps { get; } = Gen.Frequency(
        (40, Gen.Const(new Step(Kind.Post, 0))),
        (20, Gen.Int[1, 60].Select(ms => new Step(Kind.Advance, ms))),
        (12, Gen.Const(new Step(Kind.TryReceive, 0))),
        (4, Gen.Const(new Step(Kind.Trigger, 0))),
        (2, Gen.Const(new Step(Kind.Complete, 0))),
        (1, Gen.Const(new Step(Kind.Fault, 0))));

    private static Gen<Schedule> Schedules { get; } =
        from batchSize in Gen.Int[1, 10]
        from lingerMs in Gen.Int[0, 50]
        from capacity in Gen.OneOf(Gen.Const(DataflowBlockOptions.Unbounded), Gen.Int[batchSize, 3 * batchSize])
        from steps in Steps.Array[0, 120]
        select new Schedule(batchSize, lingerMs == 0 ? null : lingerMs, capacity, steps);

    private static void Run(Schedule schedule)
    {
        var time = new FakeTimeProvider();
        var block = new LingerBatchBlock<int>(new LingerBatchBlockOptions
        {
            BatchSize = schedule.BatchSize,
            Linger = schedule.LingerMs is { } ms ? TimeSpan.FromMilliseconds(ms) : Timeout.InfiniteTimeSpan,
            BoundedCapacity = schedule.Capacity,
            TimeProvider = time,
        });

        long now = 0;
        var acceptedAt = new List<long>();            // item i was accepted at acceptedAt[i]
        var emissions = new List<(long At, Cause Cause)>();
        var received = new List<int[]>();
        int receivedItems = 0;
        bool completeCalled = false;
        Exception? fault = null;

        void Observe(Cause cause)
        {
            if (fault is not null)
            {
                return;
            }

            int total = received.Count + block.OutputCount;
            Require(total >= emissions.Count, "a batch disappeared without being received");
            while (emissions.Count < total)
            {
                emissions.Add((now, cause));
            }
        }

        foreach (Step step in schedule.Steps)
        {
            switch (step.Kind)
            {
                case Kind.Post:
                    int held = acceptedAt.Count - receivedItems;
                    bool expected = !completeCalled && fault is null && (schedule.Capacity < 0 || held < schedule.Capacity);
                    bool accepted = block.Post(acceptedAt.Count);
                    Require(accepted == expected, $"Post returned {accepted} with {held} held, completed {completeCalled}, faulted {fault is not null}");
                    if (accepted)
                    {
                        acceptedAt.Add(now);
                    }

                    Observe(Cause.Post);
                    break;

                case Kind.Advance:
                    for (int i = 0; i < step.Ms; i++)
                    {
                        time.Advance(TimeSpan.FromMilliseconds(1));
                        now++;
                        Observe(Cause.Timer);
                    }

                    break;

                case Kind.Trigger:
                    block.TriggerBatch();
                    Observe(Cause.Trigger);
                    break;

                case Kind.Complete:
                    block.Complete();
                    completeCalled = true;
                    Observe(Cause.Complete);
                    break;

                case Kind.Fault:
                    bool finished = block.Completion.IsCompleted;
                    var exception = new InvalidOperationException("fault " + now.ToString(CultureInfo.InvariantCulture));
                    ((IDataflowBlock)block).Fault(exception);
                    if (!finished && fault is null)
                    {
                        fault = exception;
                    }

                    break;

                case Kind.TryReceive:
                    if (block.TryReceive(out int[]? batch))
                    {
                        Require(fault is null, "received a batch after Fault");
                        received.Add(batch);
                        receivedItems += batch.Length;
                    }

                    Observe(Cause.Other);
                    break;
            }
        }

        if (fault is null)
        {
            block.Complete();
            Observe(Cause.Complete);
            while (block.TryReceive(out int[]? batch))
            {
                received.Add(batch);
            }

            Require(block.Completion.IsCompletedSuccessfully, $"Completion is {block.Completion.Status} after the last batch was taken");
            Require(block.DroppedItems.Count == 0, "items dropped without a fault");
        }
        else
        {
            Require(block.Completion.IsFaulted && block.Completion.Exception!.InnerException == fault, $"Completion is {block.Completion.Status}, not faulted with the first fault");
            Require(block.OutputCount == 0, "batches left after Fault");
        }

        // Every accepted item exactly once, in acceptance order: received batches, then what the fault dropped.
        var all = received.SelectMany(b => b).Concat(block.DroppedItems).ToList();
        Require(all.SequenceEqual(Enumerable.Range(0, acceptedAt.Count)), $"items out of order, lost or duplicated: {string.Join(",", all)}");
        Require(block.Post(-1) == false, "Post accepted after the block finished");

        for (int k = 0; k < received.Count; k++)
        {
            int[] batch = received[k];
            var (at, cause) = emissions[k];
            long age = at - acceptedAt[batch[0]];
            Require(batch.Length >= 1 && batch.Length <= schedule.BatchSize, $"batch {k} has {batch.Length} items");
            Require(cause != Cause.Other, $"batch {k} appeared during TryReceive");
            if (cause == Cause.Post)
            {
                Require(batch.Length == schedule.BatchSize, $"batch {k} closed by a Post with {batch.Length} items");
            }
            else
            {
                Require(batch.Length < schedule.BatchSize, $"full batch {k} was not closed by the Post that filled it");
            }

            if (schedule.LingerMs is not { } linger)
            {
                Require(cause != Cause.Timer, $"batch {k} closed by a timer with infinite linger");
            }
            else if (cause == Cause.Timer)
            {
                Require(age == linger, $"batch {k} closed by the timer {age} ms after its first item, not {linger}");
            }
            else
            {
                // Any other close must come before the deadline, or the timer would have closed it already.
                Require(age < linger, $"batch {k} was {age} ms old when it closed (linger {linger})");
            }
        }
    }

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new PropertyViolationException(message);
        }
    }

    private readonly record struct Step(Kind Kind, int Ms)
    {
        public override string ToString() => Kind == Kind.Advance ? $"Advance({Ms})" : Kind.ToString();
    }

    private sealed record Schedule(int BatchSize, int? LingerMs, int Capacity, Step[] Steps)
    {
        public override string ToString()
        {
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"BatchSize {BatchSize}, Linger {(LingerMs is { } l ? l + " ms" : "infinite")}, Capacity {Capacity}: ");
            text.AppendJoin(' ', Steps);
            return text.ToString();
        }
    }
}
