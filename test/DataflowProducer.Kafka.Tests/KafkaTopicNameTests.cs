using DataflowProducer.Kafka;

namespace DataflowProducer.Kafka.Tests;

public class KafkaTopicNameTests
{
    [TestCase("orders")]
    [TestCase("a.b_c-D9")]
    [TestCase("...")]
    [TestCase("x")]
    public void IsValid_LegalName_TrueWithoutProblem(string topic)
    {
        Assert.Multiple(() =>
        {
            Assert.That(KafkaTopicName.IsValid(topic, out string? problem), Is.True);
            Assert.That(problem, Is.Null);
        });
    }

    [TestCase("", "empty")]
    [TestCase(".", "reserved")]
    [TestCase("..", "reserved")]
    [TestCase("bad topic", "contains ' '")]
    [TestCase("t/1", "contains '/'")]
    [TestCase("é", "contains 'é'")]
    public void IsValid_IllegalName_FalseSayingWhy(string topic, string why)
    {
        Assert.Multiple(() =>
        {
            Assert.That(KafkaTopicName.IsValid(topic, out string? problem), Is.False);
            Assert.That(problem, Does.Contain(why));
        });
    }

    [TestCase(249, true)]
    [TestCase(250, false)]
    public void IsValid_Length_LimitIsInclusive(int length, bool valid)
    {
        Assert.That(KafkaTopicName.IsValid(new string('a', length), out _), Is.EqualTo(valid));
    }

    [Test]
    public void IsValid_Null_Throws()
    {
        Assert.That(() => KafkaTopicName.IsValid(null!, out _), Throws.ArgumentNullException);
    }
}
