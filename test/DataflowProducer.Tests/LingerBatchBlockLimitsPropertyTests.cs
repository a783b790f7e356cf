using System.Globalization;
using System.Text;
using System.Threading.Tasks.Dataflow;
using CsCheck;
using DataflowProducer.Tests.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace DataflowProducer.Tests;

// Random schedules of Post / Advance / SetLimits / TriggerBatch / TryReceive against an unlinked block on a fake clock,
// driven from one thread (deterministic for its seed): points 1-4 hold across run-time changes of the limits, each
// batch judged by the limits in effect when its items joined.
public class LingerBatchBlockLimitsPropertyTests
{
    private const int Iterations = 1_000;
    private const int MaxBatchSize = 10;

    [Test]
    public void RandomSchedulesWithSetLimits_Always_EveryItemOnceInOrderWithinTheLimitsInEffect()
    {
        Assert.That(
            () => Schedules.Sample(Run, writeLine: TestContext.Out.WriteLine, iter: Iterations, seed: Environment.GetEnvironmentVariable("CsCheck_Seed"), print: s => s.ToString()),
            Throws.Nothing);
    }

    private enum Kind
    {
        Post,
        Advance,
        SetLimits,
        Trigger,
        TryReceive,
    }

    private enum Cause
    {
        Post,
        Timer,
        SetLimits,
        Trigger,
        Complete,
        Other,
    }

    private static Gen<Step> Steps { get; } = Gen.Frequency(
        (40, Gen.Const(new Step(Kind.Post, 0, 0))),
        (20, Gen.Int[1, 40].Select(ms => new Step(Kind.Advance, ms, 0))),
        (8, Gen.Select(Gen.Int[1, MaxBatchSize], Gen.Int[1, 50], (size, ms) => new Step(Kind.SetLimits, ms, size))),
        (12, Gen.Const(new Step(Kind.TryReceive, 0, 0))),
        (3, Gen.Const(new Step(Kind.Trigger, 0, 0))));

    private static Gen<Schedule> Schedules { get; } =
        from batchSize in Gen.Int[1, MaxBatchSize]
        from lingerMs in Gen.Int[0, 50]
        from steps in Steps.Array[0, 120]
        select new Schedule(batchSize, lingerMs == 0 ? null : lingerMs, steps);

    private static void Run(Schedule schedule)
    {
        var time = new FakeTimeProvider();
        var block = new LingerBatchBlock<int>(
            new LingerBatchBlockOptions
            {
                BatchSize = schedule.BatchSize,
                Linger = schedule.LingerMs is { } ms ? TimeSpan.FromMilliseconds(ms) : Timeout.InfiniteTimeSpan,
                TimeProvider = time,
            },
            holdUntilReleased: false,
            consumer: null,
            maxBatchSize: MaxBatchSize);

        long now = 0;
        int size = schedule.BatchSize;
        int? linger = schedule.LingerMs;              // a count-only block stays count-only
        var accepted = new List<(long At, int Size, int? Linger)>();
        var emissions = new List<(long At, Cause Cause, int SetSize)>();
        var received = new List<int[]>();

        void Observe(Cause cause, int setSize = 0)
        {
            int total = received.Count + block.OutputCount;
            Require(total >= emissions.Count, "a batch disappeared without being received");
            while (emissions.Count < total)
            {
                emissions.Add((now, cause, setSize));
            }
        }

        foreach (Step step in schedule.Steps)
        {
            switch (step.Kind)
            {
                case Kind.Post:
                    Require(block.Post(accepted.Count), "Post declined by an unbounded block");
                    accepted.Add((now, size, linger));
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

                case Kind.SetLimits:
                    block.SetLimits(step.Size, TimeSpan.FromMilliseconds(step.Ms));
                    size = step.Size;
                    linger = linger is null ? null : step.Ms;
                    Observe(Cause.SetLimits, step.Size);
                    break;

                case Kind.Trigger:
                    block.TriggerBatch();
                    Observe(Cause.Trigger);
                    break;

                case Kind.TryReceive:
                    if (block.TryReceive(out int[]? batch))
                    {
                        received.Add(batch);
                    }

                    Observe(Cause.Other);
                    break;
            }
        }

        block.Complete();
        Observe(Cause.Complete);
        while (block.TryReceive(out int[]? batch))
        {
            received.Add(batch);
        }

        Require(block.Completion.IsCompletedSuccessfully, $"Completion is {block.Completion.Status} after the last batch was taken");
        var all = received.SelectMany(b => b).ToList();
        Require(all.SequenceEqual(Enumerable.Range(0, accepted.Count)), $"items out of order, lost or duplicated: {string.Join(",", all)}");

        for (int k = 0; k < received.Count; k++)
        {
            int[] batch = received[k];
            var (at, cause, setSize) = emissions[k];
            var first = accepted[batch[0]];
            var last = accepted[batch[^1]];
            long age = at - first.At;
            Require(batch.Length >= 1 && batch.Length <= last.Size, $"batch {k} has {batch.Length} items, the size was {last.Size} when its last item joined");
            switch (cause)
            {
                case Cause.Post:
                    Require(batch.Length == last.Size, $"batch {k} closed by a Post with {batch.Length} items, size {last.Size}");
                    break;
                case Cause.Timer:
                    Require(first.Linger is { } l && age == l, $"batch {k} closed by the timer {age} ms after its first item, linger at its opening {first.Linger}");
                    break;
                case Cause.SetLimits:
                    Require(batch.Length >= setSize, $"batch {k} of {batch.Length} closed by SetLimits({setSize})");
                    break;
                case Cause.Other:
                    Require(false, $"batch {k} appeared during TryReceive");
                    break;
                default:
                    Require(batch.Length < last.Size, $"full batch {k} was not closed by the Post that filled it");
                    Require(first.Linger is not { } open || age < open, $"batch {k} was {age} ms old when it closed (linger {first.Linger})");
                    break;
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

    private readonly record struct Step(Kind Kind, int Ms, int Size)
    {
        public override string ToString() => Kind switch
        {
            Kind.Advance => $"Advance({Ms})",
            Kind.SetLimits => $"SetLimits({Size}, {Ms} ms)",
            _ => Kind.ToString(),
        };
    }

    private sealed record Schedule(int BatchSize, int? LingerMs, Step[] Steps)
    {
        public override string ToString()
        {
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"BatchSize {BatchSize}, Linger {(LingerMs is { } l ? l + " ms" : "infinite")}: ");
            text.AppendJoin(' ', Steps);
            return text.ToString();
        }
    }
}
