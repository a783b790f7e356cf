using System.Text;
using DataflowProducer.Cli.Input;

namespace DataflowProducer.Cli.Tests.Input;

public class LineReaderTests
{
    [Test, CancelAfter(10_000)]
    public async Task ReadLineAsync_MixedTerminators_ExactBytesWithoutTerminators(CancellationToken ct)
    {
        byte[] input = [0xEF, 0xBB, 0xBF, .. "one\r\ntwo\n\nthr\u00e9e\r\nlast"u8];
        await using var reader = new LineReader(new MemoryStream(input), readsMayIgnoreCancellation: false);

        var lines = new List<string>();
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            lines.Add(Encoding.UTF8.GetString(line));
        }

        Assert.Multiple(() =>
        {
            Assert.That(lines, Is.EqualTo(new[] { "one", "two", "", "thrée", "last" }));
            Assert.That(reader.LineNumber, Is.EqualTo(5));
        });
    }

    [Test, CancelAfter(10_000)]
    public async Task ReadLineAsync_LineLongerThanBuffer_ReadWhole(CancellationToken ct)
    {
        string longLine = new('x', 300_000);
        await using var reader = new LineReader(new MemoryStream(Encoding.UTF8.GetBytes(longLine + "\nshort\n")), readsMayIgnoreCancellation: false);

        byte[]? first = await reader.ReadLineAsync(ct);
        byte[]? second = await reader.ReadLineAsync(ct);
        byte[]? end = await reader.ReadLineAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(first, Has.Length.EqualTo(300_000));
            Assert.That(Encoding.UTF8.GetString(second!), Is.EqualTo("short"));
            Assert.That(end, Is.Null);
        });
    }
}
