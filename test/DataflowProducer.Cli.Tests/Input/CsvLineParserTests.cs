using System.Text;
using DataflowProducer.Cli.Input;

namespace DataflowProducer.Cli.Tests.Input;

public class CsvLineParserTests
{
    [TestCase("a,b,c", 1, "b", 3)]
    [TestCase("a,\"b,with comma\",c", 1, "b,with comma", 3)]
    [TestCase("a,\"say \"\"hi\"\"\",c", 1, "say \"hi\"", 3)]
    [TestCase("a,,c", 1, "", 3)]
    [TestCase("a,b,", 2, "", 3)]
    [TestCase("\"\"", 0, "", 1)]
    [TestCase("", 0, "", 1)]
    public void TryParse_WellFormedLine_ExtractsFieldAndCount(string line, int index, string expected, int count)
    {
        string? error = CsvLineParser.TryParse(Encoding.UTF8.GetBytes(line), index, out byte[]? field, out int fieldCount);

        Assert.Multiple(() =>
        {
            Assert.That(error, Is.Null);
            Assert.That(Encoding.UTF8.GetString(field!), Is.EqualTo(expected));
            Assert.That(fieldCount, Is.EqualTo(count));
        });
    }

    [TestCase("a,\"unterminated", "unterminated quoted field 2")]
    [TestCase("a,\"closed\"x,c", "after the closing quote of field 2")]
    [TestCase("a,b\"c,d", "quote inside unquoted field 2")]
    public void TryParse_BadQuoting_ReportsWhy(string line, string expected)
    {
        string? error = CsvLineParser.TryParse(Encoding.UTF8.GetBytes(line), 0, out _, out _);

        Assert.That(error, Does.Contain(expected));
    }

    [Test]
    public void TryParseFields_Header_ReturnsNames()
    {
        string? error = CsvLineParser.TryParseFields("id,\"full name\",city"u8, out List<string> fields);

        Assert.Multiple(() =>
        {
            Assert.That(error, Is.Null);
            Assert.That(fields, Is.EqualTo(new[] { "id", "full name", "city" }));
        });
    }
}
