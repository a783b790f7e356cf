using System.Globalization;
using DataflowProducer.Cli.Output;
using Microsoft.Extensions.Time.Testing;

namespace DataflowProducer.Cli.Tests.Output;

public class ProgressTests
{
    [Test, CancelAfter(10_000)]
    public async Task DisposeAsync_DescribeThrew_DoesNotThrowAndReportsIt(CancellationToken ct)
    {
        using var error = new StringWriter(CultureInfo.InvariantCulture);
        var time = new FakeTimeProvider();
        var progress = Progress.Start(new Reporter(error, isTerminal: false, quiet: false), () => throw new InvalidOperationException("statistics broke"), time);

        time.Advance(TimeSpan.FromSeconds(1));

        Assert.That(async () => await progress.DisposeAsync().AsTask().WaitAsync(ct), Throws.Nothing);
        Assert.That(error.ToString(), Does.Contain("statistics broke"));
    }
}
