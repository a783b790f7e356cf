using Confluent.Kafka;
using NSubstitute;

namespace DataflowProducer.Kafka.Tests;

// The sink's telemetry hooks, without a broker: server.address/server.port from bootstrap.servers, Kafka error codes as
// error.type, and the attributes that hold for a whole batch.
public partial class KafkaBatchSinkTests
{
    [TestCase("127.0.0.1:9092", "127.0.0.1", 9092)]
    [TestCase(" broker-1.example:19092 ", "broker-1.example", 19092)]
    [TestCase("PLAINTEXT://broker:9093", "broker", 9093)]
    [TestCase("[::1]:9092", "::1", 9092)]
    [TestCase("broker", "broker", null)]
    public void SingleServer_OneServer_AddressAndPort(string bootstrapServers, string address, int? port)
    {
        Assert.That(KafkaBatchSink<string, string>.SingleServer(bootstrapServers), Is.EqualTo(((string, int?)?)(address, port)));
    }

    [TestCase("a:9092,b:9092")]
    [TestCase("")]
    [TestCase(null)]
    public void SingleServer_NoneOrSeveral_Null(string? bootstrapServers)
    {
        Assert.That(KafkaBatchSink<string, string>.SingleServer(bootstrapServers), Is.Null);
    }

    [Test]
    public void GetErrorType_KafkaErrorOrOther_ErrorCodeNameElseNull()
    {
        IBatchSinkHooks<KafkaRecord<string, string>> hooks = CreateSut("orders");

        Assert.Multiple(() =>
        {
            Assert.That(hooks.GetErrorType(new ProduceException<string, string>(new Error(ErrorCode.Local_MsgTimedOut), new DeliveryResult<string, string>())), Is.EqualTo("Local_MsgTimedOut"));
            Assert.That(hooks.GetErrorType(new KafkaException(ErrorCode.MsgSizeTooLarge)), Is.EqualTo("MsgSizeTooLarge"));
            Assert.That(hooks.GetErrorType(new ArgumentException("bad topic")), Is.Null, "the pipeline then uses the full type name");
        });
    }

    [Test]
    public void GetBatchTags_DestinationOnlyWhenEveryRecordGoesThere_PartitionOnlyWhenEveryRecordNamesIt()
    {
        IBatchSinkHooks<KafkaRecord<string, string>> hooks = CreateSut("orders");
        KafkaRecord<string, string> Record(string? topic = null, int? partition = null) =>
            new("k", "v", topic) { Partition = partition is { } p ? new Partition(p) : null };

        Assert.Multiple(() =>
        {
            Assert.That(hooks.GetBatchTags([Record(), Record("orders")]), Is.EqualTo(new KeyValuePair<string, object?>[] { new("messaging.destination.name", "orders") }));
            Assert.That(hooks.GetBatchTags([Record(), Record("payments")]), Is.Empty, "two topics: no destination");
            Assert.That(hooks.GetBatchTags([Record("payments", 1), Record("payments", 1)]), Is.EqualTo(new KeyValuePair<string, object?>[] { new("messaging.destination.name", "payments"), new("messaging.destination.partition.id", "1") }));
            Assert.That(hooks.GetBatchTags([Record(partition: 1), Record(partition: 2)]), Is.EqualTo(new KeyValuePair<string, object?>[] { new("messaging.destination.name", "orders") }));
            Assert.That(hooks.GetBatchTags([Record(partition: 1), Record()]), Has.Count.EqualTo(1), "a record the partitioner places: no single partition");
            Assert.That(hooks.GetBatchTags([Record(), null!]), Is.Empty, "a null record goes nowhere");
            Assert.That(((IBatchSinkHooks<KafkaRecord<string, string>>)CreateSut()).GetBatchTags([Record()]), Is.Empty, "no topic at all");
        });
    }

    [Test]
    public void TelemetryTags_SinkOverAProducer_KafkaAndTheClientsNameWithoutADestination()
    {
        _stub.Producer.Name.Returns("app#producer-7");
        IBatchSinkHooks<KafkaRecord<string, string>> hooks = CreateSut("orders");

        Assert.That(hooks.TelemetryTags, Is.EqualTo(new KeyValuePair<string, object?>[] { new("messaging.system", "kafka"), new("messaging.client.id", "app#producer-7") }));
    }
}
