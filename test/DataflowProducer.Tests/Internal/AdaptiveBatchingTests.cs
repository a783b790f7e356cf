using DataflowProducer.Internal;
using Microsoft.Extensions.Time.Testing;

namespace DataflowProducer.Tests.Internal;

// The adaptive batching rule alone, on a fake clock: window, thresholds, hysteresis, factor, clamps, cool-down.
public class AdaptiveBatchingTests
{
    private static readonly TimeSpan Slow = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan Fast = TimeSpan.FromMilliseconds(5);
    private static readonly TimeSpan Between = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan CoolDown = TimeSpan.FromSeconds(30);

    private static AdaptiveBatching CreateSut(FakeTimeProvider time, int batchSize = 1000, TimeSpan? linger = null) =>
        new(new AdaptiveBatchingOptions(), batchSize, linger ?? TimeSpan.FromMilliseconds(50), time);

    // One judged window: the clock moves past the window (and the cool-down), then one acknowledgement arrives.
    private static BatchLimitsChange? JudgedWindow(FakeTimeProvider time, AdaptiveBatching sut, TimeSpan latency, bool pressure = true, TimeSpan? advance = null)
    {
        time.Advance(advance ?? CoolDown);
        return sut.OnAcknowledged(latency, pressure);
    }

    [Test]
    public void OnAcknowledged_SlowUnderPressure_GrowsBatchSizeAndLingerByTheFactor()
    {
        var time = new FakeTimeProvider();
        AdaptiveBatching sut = CreateSut(time);

        BatchLimitsChange? change = JudgedWindow(time, sut, Slow, advance: Window);

        Assert.That(change, Is.Not.Null);
        Assert.Multiple(() =>
        {
            Assert.That(change!.Value.OldBatchSize, Is.EqualTo(1000));
            Assert.That(change.Value.NewBatchSize, Is.EqualTo(4000));
            Assert.That(change.Value.OldLinger, Is.EqualTo(TimeSpan.FromMilliseconds(50)));
            Assert.That(change.Value.NewLinger, Is.EqualTo(TimeSpan.FromMilliseconds(200)));
            Assert.That(change.Value.Grew, Is.True);
            Assert.That(change.Value.Reason, Does.StartWith("slow: mean acknowledgement latency 200 ms over 1 batch(es), 1 under pressure"));
        });
    }

    [Test]
    public void OnAcknowledged_SlowForLong_StepsUpToTheClampsAndNoFurther()
    {
        var time = new FakeTimeProvider();
        AdaptiveBatching sut = CreateSut(time);

        var steps = new List<(int, TimeSpan)>();
        for (int i = 0; i < 5; i++)
        {
            if (JudgedWindow(time, sut, Slow) is { } change)
            {
                steps.Add((change.NewBatchSize, change.NewLinger));
            }
        }

        Assert.That(steps, Is.EqualTo(new[]
        {
            (4000, TimeSpan.FromMilliseconds(200)),
            (16_000, TimeSpan.FromMilliseconds(500)),
            (20_000, TimeSpan.FromMilliseconds(500)),
        }));
    }

    [Test]
    public void OnAcknowledged_WithinTheCoolDown_NoSecondChange()
    {
        var time = new FakeTimeProvider();
        AdaptiveBatching sut = CreateSut(time);
        Assert.That(JudgedWindow(time, sut, Slow, advance: Window), Is.Not.Null);

        var withinCoolDown = new List<BatchLimitsChange?>();
        for (int i = 0; i < 5; i++)
        {
            withinCoolDown.Add(JudgedWindow(time, sut, Slow, advance: Window));
        }

        // 5 windows of 5 s: 25 s after the change. The sixth ends 30 s after it.
        Assert.Multiple(() =>
        {
            Assert.That(withinCoolDown, Is.All.Null);
            Assert.That(JudgedWindow(time, sut, Slow, advance: Window)?.NewBatchSize, Is.EqualTo(16_000));
        });
    }

    [Test]
    public void OnAcknowledged_BeforeTheWindowHasPassed_NoChange()
    {
        var time = new FakeTimeProvider();
        AdaptiveBatching sut = CreateSut(time);

        Assert.That(JudgedWindow(time, sut, Slow, advance: Window - TimeSpan.FromMilliseconds(1)), Is.Null);
        Assert.That(JudgedWindow(time, sut, Slow, advance: TimeSpan.FromMilliseconds(1)), Is.Not.Null, "the same window, now passed");
    }

    [Test]
    public void OnAcknowledged_Recovered_BackToTheFloorInOneStep()
    {
        var time = new FakeTimeProvider();
        AdaptiveBatching sut = CreateSut(time);
        JudgedWindow(time, sut, Slow);
        JudgedWindow(time, sut, Slow);

        BatchLimitsChange? change = JudgedWindow(time, sut, Fast, pressure: false);

        Assert.That(change, Is.Not.Null);
        Assert.Multiple(() =>
        {
            Assert.That(change!.Value.OldBatchSize, Is.EqualTo(16_000));
            Assert.That(change.Value.NewBatchSize, Is.EqualTo(1000));
            Assert.That(change.Value.NewLinger, Is.EqualTo(TimeSpan.FromMilliseconds(50)));
            Assert.That(change.Value.Grew, Is.False);
            Assert.That(change.Value.Reason, Does.StartWith("recovered: mean acknowledgement latency 5 ms over 1 batch(es)"));
            Assert.That((sut.BatchSize, sut.Linger), Is.EqualTo((1000, TimeSpan.FromMilliseconds(50))));
        });
    }

    [Test]
    public void OnAcknowledged_LatencyBetweenTheThresholds_KeepsTheLimits()
    {
        var time = new FakeTimeProvider();
        AdaptiveBatching sut = CreateSut(time);
        JudgedWindow(time, sut, Slow);

        Assert.Multiple(() =>
        {
            Assert.That(JudgedWindow(time, sut, Between), Is.Null, "not slow enough to grow");
            Assert.That(JudgedWindow(time, sut, Between, pressure: false), Is.Null, "not fast enough to recover");
            Assert.That(sut.BatchSize, Is.EqualTo(4000));
        });
    }

    [Test]
    public void OnAcknowledged_FastAtTheFloor_NoChange()
    {
        var time = new FakeTimeProvider();
        AdaptiveBatching sut = CreateSut(time);

        Assert.That(JudgedWindow(time, sut, Fast), Is.Null);
    }

    [Test]
    public void OnAcknowledged_SlowButLessThanHalfUnderPressure_NoChange()
    {
        var time = new FakeTimeProvider();
        AdaptiveBatching sut = CreateSut(time);
        sut.OnAcknowledged(Slow, underPressure: true);
        sut.OnAcknowledged(Slow, underPressure: false);

        Assert.That(JudgedWindow(time, sut, Slow, pressure: false), Is.Null, "1 of 3 under pressure");
        sut.OnAcknowledged(Slow, underPressure: true);
        Assert.That(JudgedWindow(time, sut, Slow, pressure: false), Is.Not.Null, "1 of 2 under pressure: half");
    }

    [Test]
    public void OnAcknowledged_MeanOverTheWindow_DecidesNotTheLastLatency()
    {
        var time = new FakeTimeProvider();
        AdaptiveBatching sut = CreateSut(time);
        sut.OnAcknowledged(TimeSpan.FromMilliseconds(390), underPressure: true);

        // (390 + 10) / 2 = 200 ms: slow, although the last one was fast.
        Assert.That(JudgedWindow(time, sut, TimeSpan.FromMilliseconds(10))?.NewBatchSize, Is.EqualTo(4000));
    }

    [Test]
    public void OnAcknowledged_CountOnly_LingerStaysInfinite()
    {
        var time = new FakeTimeProvider();
        AdaptiveBatching sut = CreateSut(time, linger: Timeout.InfiniteTimeSpan);

        BatchLimitsChange? change = JudgedWindow(time, sut, Slow);

        Assert.That(change?.NewLinger, Is.EqualTo(Timeout.InfiniteTimeSpan));
        Assert.That(change?.NewBatchSize, Is.EqualTo(4000));
    }
}
