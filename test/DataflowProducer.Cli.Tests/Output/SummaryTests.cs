using System.Text.Json;
using DataflowProducer.Cli.Output;

namespace DataflowProducer.Cli.Tests.Output;

public class SummaryTests
{
    private static readonly Summary Aborted = new(10, 4, 1, 5, 3, TimeSpan.FromSeconds(1.5), NotSent: 2, Unknown: 3);

    [Test]
    public void ToLine_AbandonedSplit_LineKeepsItsFixedFields()
    {
        Assert.That(Aborted.ToLine(), Is.EqualTo("SUMMARY accepted=10 delivered=4 failed=1 abandoned=5 batches=3 seconds=1.50"));
    }

    [Test]
    public void ToJson_AbandonedSplit_CarriesNotSentAndUnknown()
    {
        using JsonDocument json = JsonDocument.Parse(Aborted.ToJson());

        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("abandoned").GetInt64(), Is.EqualTo(5));
            Assert.That(json.RootElement.GetProperty("not_sent").GetInt64(), Is.EqualTo(2));
            Assert.That(json.RootElement.GetProperty("unknown").GetInt64(), Is.EqualTo(3));
        });
    }

    [Test]
    public void ToTable_AbandonedSplit_RowSaysWhichCanBeResent()
    {
        Assert.That(Aborted.ToTable([]), Does.Contain("abandoned  5 (2 not sent, 3 unknown)"));
    }
}
