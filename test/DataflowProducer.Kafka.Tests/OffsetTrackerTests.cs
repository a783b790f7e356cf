using Confluent.Kafka;
using DataflowProducer.Kafka.Internal;

namespace DataflowProducer.Kafka.Tests;

public class OffsetTrackerTests
{
    private static readonly TopicPartition Partition = new("a", 0);

    [Test]
    public void Track_ConsumerRewindsAboveARecordWithoutOutcome_NothingIsStoredPastThatRecord()
    {
        var stored = new List<long>();
        var tracker = new OffsetTracker(position => stored.Add(position.Offset.Value));
        for (long offset = 100; offset <= 110; offset++)
        {
            tracker.Track(Partition, offset);
        }

        // 100's outcome is unknown; the rest was delivered.
        Assert.That(tracker.Block(Partition, 100), Is.True);
        for (long offset = 101; offset <= 110; offset++)
        {
            tracker.Complete(Partition, offset);
        }

        // The consumer goes back to 105 (a seek): 105 and 106 are read and delivered again.
        tracker.Track(Partition, 105);
        tracker.Track(Partition, 106);
        tracker.Complete(Partition, 105);
        tracker.Complete(Partition, 106);

        Assert.That(stored, Has.All.LessThanOrEqualTo(100), "a restart must read 100 again");
    }

    [Test]
    public void Track_RewoundRecordReadAgainAndDelivered_StoresMovePastItAgain()
    {
        var stored = new List<long>();
        var tracker = new OffsetTracker(position => stored.Add(position.Offset.Value));
        tracker.Track(Partition, 100);
        tracker.Track(Partition, 101);
        tracker.Block(Partition, 100);
        tracker.Complete(Partition, 101);

        tracker.Track(Partition, 101);
        tracker.Complete(Partition, 101);
        tracker.Track(Partition, 100);
        tracker.Track(Partition, 101);
        tracker.Complete(Partition, 100);
        tracker.Complete(Partition, 101);

        // Held at 100 while 100 had no outcome; past it once 100 was read again and delivered.
        Assert.That(stored, Is.EqualTo(new long[] { 100, 101, 102 }));
    }
}
