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
    [TestCase("{\"id\":\"\\ud83d\\ude00\"}", "\U0001F600")]
    [TestCase("{\"id\":1e999999}", "1e999999")]
    [TestCase("{\"id\":-123456789012345678901234567890123456789012345678901234567890}", "-123456789012345678901234567890123456789012345678901234567890")]
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

    // A lone or misordered surrogate escape is valid JSON syntax but not Unicode text: the key cannot be a string.
    [TestCase("{\"id\":\"\\ud800\"}")]
    [TestCase("{\"id\":\"a\\udc00b\"}")]
    [TestCase("{\"id\":\"\\ude00\\ud83d\"}")]
    [TestCase("{\"\\ud800\":1,\"id\":\"k\"}")]
    public void TryParse_KeyOrNameWithInvalidSurrogateEscape_MalformedNotThrown(string line)
    {
        string? error = null;

        Assert.That(() => error = JsonLineParser.TryParse(Encoding.UTF8.GetBytes(line), "id"u8, out _), Throws.Nothing);
        Assert.That(error, Does.Contain("not valid Unicode"));
    }

    // JSON text is UTF-8; bytes that are not are a malformed line wherever they are, in the key or elsewhere.
    [TestCase(new byte[] { (byte)'{', (byte)'"', (byte)'i', (byte)'d', (byte)'"', (byte)':', (byte)'"', 0xFF, (byte)'"', (byte)'}' }, "id")]
    [TestCase(new byte[] { (byte)'{', (byte)'"', (byte)'i', (byte)'d', (byte)'"', (byte)':', (byte)'"', 0xC3, (byte)'"', (byte)'}' }, "id")]
    [TestCase(new byte[] { (byte)'{', (byte)'"', (byte)'i', (byte)'d', (byte)'"', (byte)':', (byte)'"', (byte)'\\', (byte)'n', 0xED, 0xA0, 0x80, (byte)'"', (byte)'}' }, "id")]
    [TestCase(new byte[] { (byte)'{', (byte)'"', (byte)'v', (byte)'"', (byte)':', (byte)'"', 0xFE, (byte)'"', (byte)'}' }, "")]
    public void TryParse_InvalidUtf8_MalformedNotThrown(byte[] line, string keyField)
    {
        string? error = null;

        Assert.That(() => error = JsonLineParser.TryParse(line, Encoding.UTF8.GetBytes(keyField), out _), Throws.Nothing);
        Assert.That(error, Does.Contain("UTF-8"));
    }

    [TestCase(65, "id")]
    [TestCase(100_000, "")]
    public void TryParse_DeepNesting_MalformedNotThrown(int depth, string keyField)
    {
        byte[] line = Encoding.UTF8.GetBytes("{\"id\":1,\"v\":" + new string('[', depth) + new string(']', depth) + "}");
        string? error = null;

        Assert.That(() => error = JsonLineParser.TryParse(line, Encoding.UTF8.GetBytes(keyField), out _), Throws.Nothing);
        Assert.That(error, Does.Contain("depth"));
    }
}
