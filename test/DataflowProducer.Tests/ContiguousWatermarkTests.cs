using CsCheck;

namespace DataflowProducer.Tests;

public class ContiguousWatermarkTests
{
    [Test]
    public void SafeSequence_NothingTracked_IsNull()
    {
        var sut = new ContiguousWatermark();

        Assert.Multiple(() =>
        {
            Assert.That(sut.SafeSequence, Is.Null);
            Assert.That(sut.Pending, Is.Zero);
            Assert.That(sut.IsBlocked, Is.False);
        });
    }

    [Test]
    public void Complete_InOrderWithGaps_SafeSequenceFollowsTheLastCompleted()
    {
        // Kafka offsets have gaps (compaction, transaction markers): only tracked sequences count.
        var sut = CreateSut(5, 7, 8, 12);

        Assert.That(sut.Complete(5), Is.True);
        Assert.That(sut.SafeSequence, Is.EqualTo(5));
        sut.Complete(7);
        sut.Complete(8);
        Assert.That(sut.SafeSequence, Is.EqualTo(8));
        sut.Complete(12);
        Assert.Multiple(() =>
        {
            Assert.That(sut.SafeSequence, Is.EqualTo(12));
            Assert.That(sut.Pending, Is.Zero);
        });
    }

    [Test]
    public void Complete_OutOfOrder_SafeSequenceWaitsForTheFirstOpenOne()
    {
        var sut = CreateSut(1, 2, 3, 4);

        sut.Complete(4);
        sut.Complete(2);
        Assert.That(sut.SafeSequence, Is.Null, "1 is still open");
        sut.Complete(1);
        Assert.That(sut.SafeSequence, Is.EqualTo(2), "3 is still open");
        sut.Complete(3);
        Assert.That(sut.SafeSequence, Is.EqualTo(4));
    }

    [Test]
    public void Block_AFailureNotHandled_NeverPassedUntilReset()
    {
        var sut = CreateSut(1, 2, 3);
        sut.Complete(1);

        Assert.That(sut.Block(2), Is.True);
        sut.Complete(3);
        Assert.Multiple(() =>
        {
            Assert.That(sut.SafeSequence, Is.EqualTo(1));
            Assert.That(sut.IsBlocked, Is.True);
            Assert.That(sut.Complete(2), Is.False, "a blocked sequence cannot be completed afterwards");
            Assert.That(sut.SafeSequence, Is.EqualTo(1));
        });

        sut.Track(4);
        sut.Complete(4);
        Assert.That(sut.SafeSequence, Is.EqualTo(1), "later completions do not pass a block");
    }

    [Test]
    public void Reset_Revocation_ForgetsEverythingAndLateCompletionsAreIgnored()
    {
        var sut = CreateSut(10, 11, 12);
        sut.Complete(10);
        sut.Block(11);

        sut.Reset();

        Assert.Multiple(() =>
        {
            Assert.That(sut.SafeSequence, Is.Null);
            Assert.That(sut.IsBlocked, Is.False);
            Assert.That(sut.Pending, Is.Zero);
            Assert.That(sut.Complete(12), Is.False, "the completion of a sequence from before the reset is ignored");
        });

        // Tracking may start anywhere after a reset (the partition comes back at its committed offset).
        sut.Track(11);
        sut.Complete(11);
        Assert.That(sut.SafeSequence, Is.EqualTo(11));
    }

    [TestCase(5L)]
    [TestCase(4L)]
    public void Track_NotIncreasing_ThrowsNamingBothSequences(long sequence)
    {
        var sut = CreateSut(5);

        Assert.That(() => sut.Track(sequence), Throws.TypeOf<ArgumentOutOfRangeException>().With.Message.Contains($"{sequence} came after 5"));
    }

    [Test]
    public void Complete_UntrackedOrTwice_ReturnsFalseAndChangesNothing()
    {
        var sut = CreateSut(1, 3);

        Assert.Multiple(() =>
        {
            Assert.That(sut.Complete(2), Is.False, "a gap");
            Assert.That(sut.Complete(1), Is.True);
            Assert.That(sut.Complete(1), Is.False, "already passed");
            Assert.That(sut.Complete(0), Is.False, "before anything tracked");
            Assert.That(sut.SafeSequence, Is.EqualTo(1));
            Assert.That(sut.Pending, Is.EqualTo(1));
        });
    }

    [Test]
    public void Track_ManyOpen_GrowsAndKeepsOrder()
    {
        var sut = new ContiguousWatermark();
        for (long i = 0; i < 1000; i++)
        {
            sut.Track(i * 2);
        }

        for (long i = 999; i >= 1; i--)
        {
            sut.Complete(i * 2);
        }

        Assert.That(sut.SafeSequence, Is.Null);
        sut.Complete(0);
        Assert.Multiple(() =>
        {
            Assert.That(sut.SafeSequence, Is.EqualTo(1998));
            Assert.That(sut.Pending, Is.Zero);
        });
    }

    [Test]
    public void RandomOperations_Always_AgreeWithANaiveModel()
    {
        // An operation: 0-3 track the next sequence (after a gap), 4-6 complete, 7 block (each picks a tracked sequence,
        // possibly one already settled), 8 reset (rare: one draw in a hundred).
        Gen<(int Kind, int Gap, int Pick)[]> operations = Gen.Select(Gen.Int[0, 99], Gen.Int[1, 3], Gen.Int[0, 1_000]).Select(static (k, g, p) => (k switch { < 45 => 0, < 80 => 4, < 99 => 7, _ => 8 }, g, p)).Array[1, 300];

        Assert.That(() => operations.Sample(Check, iter: 2_000), Throws.Nothing);
    }

    private static void Check((int Kind, int Gap, int Pick)[] operations)
    {
        var sut = new ContiguousWatermark();
        var model = new NaiveWatermark();
        long next = 0;
        foreach ((int kind, int gap, int pick) in operations)
        {
            switch (kind)
            {
                case 0:
                    next += gap;
                    sut.Track(next);
                    model.Track(next);
                    break;
                case 8:
                    sut.Reset();
                    model.Reset();
                    break;
                default:
                    if (model.AllTracked.Count == 0)
                    {
                        break;
                    }

                    long sequence = model.AllTracked[pick % model.AllTracked.Count];
                    bool blocked = kind == 7;
                    bool expected = model.Settle(sequence, blocked);
                    bool actual = blocked ? sut.Block(sequence) : sut.Complete(sequence);
                    if (actual != expected)
                    {
                        throw new InvalidOperationException($"{(blocked ? "Block" : "Complete")}({sequence}) returned {actual}, the model {expected}.");
                    }

                    break;
            }

            if (sut.SafeSequence != model.Safe || sut.Pending != model.Pending || sut.IsBlocked != model.IsBlocked)
            {
                throw new InvalidOperationException($"Watermark (safe {sut.SafeSequence}, pending {sut.Pending}, blocked {sut.IsBlocked}) disagrees with the model (safe {model.Safe}, pending {model.Pending}, blocked {model.IsBlocked}).");
            }
        }
    }

    private static ContiguousWatermark CreateSut(params long[] tracked)
    {
        var sut = new ContiguousWatermark();
        foreach (long sequence in tracked)
        {
            sut.Track(sequence);
        }

        return sut;
    }

    // The obvious, slow definition: every sequence tracked since the last reset with its state; safe is the last of the
    // longest all-complete prefix, or the previous safe one when that prefix is empty.
    private sealed class NaiveWatermark
    {
        private readonly List<(long Sequence, int State)> _tracked = [];
        private long? _safe;

        public List<long> AllTracked => [.. _tracked.Select(static t => t.Sequence)];

        public long? Safe => _safe;

        public int Pending => _tracked.Count(t => _safe is not { } safe || t.Sequence > safe);

        public bool IsBlocked => _tracked.Any(static t => t.State == 2);

        public void Track(long sequence) => _tracked.Add((sequence, 0));

        public void Reset()
        {
            _tracked.Clear();
            _safe = null;
        }

        public bool Settle(long sequence, bool blocked)
        {
            int index = _tracked.FindIndex(t => t.Sequence == sequence);
            if (index < 0 || _tracked[index].State != 0)
            {
                return false;
            }

            _tracked[index] = (sequence, blocked ? 2 : 1);
            foreach ((long s, int state) in _tracked)
            {
                if (state != 1)
                {
                    break;
                }

                _safe = s;
            }

            return true;
        }
    }
}
