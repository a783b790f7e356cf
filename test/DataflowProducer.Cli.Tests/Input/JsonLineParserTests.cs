using System.Text;
using DataflowProducer.Cli.Input;

namespace DataflowProducer.Cli.Tests.Input;

public class JsonLineParserTests
{
    [TestCase("{\"id\":\"k1\",\"v\":1}", "k1")]
    [TestCase("{\"v\":{\"id\":\"nested\"},\"id\":42}", "42")]
    [TestCase("{\"id\":true}", "true")]
    [TestCase("{\"id\":\"caf\\u00e9 \\\"q\\\"\"}", "café \"q\"")]
    [TestCase("{\"id\":\"naïve\"}", "naïve")]
    public void TryParse_ObjectWithKeyField_ReturnsKeyAsString(string line, string expected)
    {
        string? error = JsonLineParser.TryParse(Encoding.UTF8.GetBytes(line), "id"u8, out byte[]? key);

        Assert.Multiple(() =>
        {
            Assert.That(error, Is.Null);
            Assert.That(Encoding.UTF8.GetString(key!), Is.EqualTo(expected));
        });
    }

    [Test]
    public void TryParse_NullKeyField_NoKey()
    {
        string? error = JsonLineParser.TryParse("{\"id\":null}"u8, "id"u8, out byte[]? key);

        Assert.Multiple(() =>
        {
            Assert.That(error, Is.Null);
            Assert.That(key, Is.Null);
        });
    }

    [TestCase("{\"id\":1", "invalid JSON")]
    [TestCase("{\"id\":1} trailing", "invalid JSON")]
    [TestCase("{\"other\":1}", "missing key field \"id\"")]
    [TestCase("[1,2]", "not an object")]
    [TestCase("{\"id\":[1]}", "is a JSON array")]
    public void TryParse_Malformed_ReportsWhy(string line, string expected)
    {
        string? error = JsonLineParser.TryParse(Encoding.UTF8.GetBytes(line), "id"u8, out _);

        Assert.That(error, Does.Contain(expected));
    }

    [TestCase("42")]
    [TestCase("\"text\"")]
    [TestCase("{\"a\":[1,{\"b\":null}]}")]
    public void TryParse_AnyValueWithoutKeyField_IsGood(string line)
    {
        Assert.That(JsonLineParser.TryParse(Encoding.UTF8.GetBytes(line), default, out _), Is.Null);
    }
}
