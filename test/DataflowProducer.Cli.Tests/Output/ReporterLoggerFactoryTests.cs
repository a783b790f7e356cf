using System.Globalization;
using DataflowProducer.Cli.Output;
using Microsoft.Extensions.Logging;

namespace DataflowProducer.Cli.Tests.Output;

public class ReporterLoggerFactoryTests
{
    [TestCase("The pipeline is aborting: faulted by the caller", "Aborted by a second signal.", "error: The pipeline is aborting: faulted by the caller. Aborted by a second signal.")]
    [TestCase("The sink's flush failed.", "Broker down.", "error: The sink's flush failed. Broker down.")]
    [TestCase("The pipeline is aborting:", "Drain timeout.", "error: The pipeline is aborting: Drain timeout.")]
    public void Log_MessageAndException_SeparateSentences(string message, string exceptionMessage, string expected)
    {
        using var error = new StringWriter(CultureInfo.InvariantCulture);
        using var factory = new ReporterLoggerFactory(new Reporter(error, isTerminal: false, quiet: true));
        ILogger logger = factory.CreateLogger("DataflowProducer");

        logger.Log(LogLevel.Error, new EventId(1010), message, new InvalidOperationException(exceptionMessage), (state, _) => state);

        Assert.That(error.ToString().TrimEnd(), Is.EqualTo(expected));
    }
}
