using Confluent.Kafka;

namespace DataflowProducer.Kafka.Testing.Tests;

/// <summary>Writes test messages with a plain Confluent producer, so these tests depend on nothing but the test kit.</summary>
internal static class Produced
{
    /// <summary>Produces <c>k{i % 5}</c>/<c>v{i}</c> for i from 0 to <paramref name="count"/> - 1, and waits until each is delivered.</summary>
    public static void Messages(string bootstrapServers, string topic, int count)
    {
        using IProducer<string, string> producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = bootstrapServers, LingerMs = 5 }).Build();
        var errors = new List<Error>();
        for (int i = 0; i < count; i++)
        {
            producer.Produce(topic, new Message<string, string> { Key = $"k{i % 5}", Value = $"v{i}" }, report =>
            {
                if (report.Error.IsError)
                {
                    lock (errors)
                    {
                        errors.Add(report.Error);
                    }
                }
            });
        }

        int left = producer.Flush(TimeSpan.FromSeconds(30));
        Assert.Multiple(() =>
        {
            Assert.That(left, Is.Zero, "messages still in flight after the flush");
            Assert.That(errors, Is.Empty, "delivery errors");
        });
    }
}
