using System.Runtime.InteropServices;
using Confluent.Kafka;

namespace DataflowProducer.Cli.Tests;

public class ExitCodesTests
{
    public enum Completion
    {
        Succeeded,
        Canceled,
        RecordsFailed,
        DrainTimeout,
        FatalProducerError,
        FatalProducerErrorDeepInTheChain,
        NonFatalProducerError,
    }

    [TestCase(0, 0, null, false, Completion.Succeeded, false, false, ExitCodes.Success)]
    [TestCase(2, 0, null, false, Completion.RecordsFailed, false, false, ExitCodes.RecordsFailed)]
    [TestCase(0, 0, PosixSignal.SIGINT, false, Completion.Succeeded, false, false, ExitCodes.InterruptedBySigint)]
    [TestCase(0, 0, PosixSignal.SIGTERM, false, Completion.Succeeded, false, false, ExitCodes.InterruptedBySigterm)]
    [TestCase(2, 0, PosixSignal.SIGTERM, false, Completion.RecordsFailed, false, false, ExitCodes.RecordsFailed)]
    [TestCase(2, 1, PosixSignal.SIGINT, true, Completion.RecordsFailed, false, false, ExitCodes.Abandoned)]
    [TestCase(0, 0, PosixSignal.SIGINT, true, Completion.Succeeded, false, false, ExitCodes.Abandoned)]
    [TestCase(0, 0, PosixSignal.SIGTERM, true, Completion.Canceled, false, false, ExitCodes.Abandoned)]
    [TestCase(0, 0, null, false, Completion.Canceled, false, false, ExitCodes.Abandoned)]
    [TestCase(0, 0, null, false, Completion.DrainTimeout, false, false, ExitCodes.Abandoned)]
    [TestCase(0, 0, null, false, Completion.FatalProducerError, false, false, ExitCodes.Abandoned)]
    [TestCase(3, 0, null, false, Completion.FatalProducerError, false, false, ExitCodes.Abandoned)]
    [TestCase(3, 0, null, false, Completion.FatalProducerErrorDeepInTheChain, false, false, ExitCodes.Abandoned)]
    [TestCase(3, 0, null, false, Completion.NonFatalProducerError, false, false, ExitCodes.RecordsFailed)]
    [TestCase(0, 0, null, false, Completion.Succeeded, true, false, ExitCodes.UnexpectedError)]
    [TestCase(2, 0, PosixSignal.SIGINT, false, Completion.RecordsFailed, true, false, ExitCodes.UnexpectedError)]
    [TestCase(0, 4, null, false, Completion.RecordsFailed, true, false, ExitCodes.Abandoned)]
    [TestCase(0, 4, null, true, Completion.Canceled, true, true, ExitCodes.VerificationFailed)]
    [TestCase(1, 0, PosixSignal.SIGTERM, false, Completion.RecordsFailed, false, true, ExitCodes.VerificationFailed)]
    public void For_Outcome_ExitCodeByPrecedence(
        long failed, long abandoned, PosixSignal? stoppedBy, bool abortRequested, Completion completion, bool unexpectedError, bool verificationFailed, int expected)
    {
        var outcome = new RunOutcome
        {
            Failed = failed,
            Abandoned = abandoned,
            StoppedBy = stoppedBy,
            AbortRequested = abortRequested,
            CompletionError = CompletionError(completion),
            UnexpectedError = unexpectedError,
            VerificationFailed = verificationFailed,
        };

        Assert.That(ExitCodes.For(outcome), Is.EqualTo(expected));
    }

    // A second signal during --verify aborts the run: not verified, so not 0 (nor 130/143, which promise delivery
    // without a verdict being asked for), and not 5, which says the topic is wrong.
    [TestCase(0, null, ExitCodes.Abandoned)]
    [TestCase(0, PosixSignal.SIGINT, ExitCodes.Abandoned)]
    [TestCase(2, PosixSignal.SIGTERM, ExitCodes.Abandoned)]
    public void For_VerificationCanceledBySecondSignal_Aborted(long failed, PosixSignal? stoppedBy, int expected)
    {
        var outcome = new RunOutcome { Failed = failed, StoppedBy = stoppedBy, VerificationCanceled = true };

        Assert.That(ExitCodes.For(outcome), Is.EqualTo(expected));
    }

    [Test]
    public void HelpText_Precedence_SameAsTheReadme()
    {
        Assert.That(ExitCodes.HelpText, Does.Contain("5 wins over 4, 4 over 1, 1 over 3, and 3 over 130/143"));
    }

    private static Exception? CompletionError(Completion completion) => completion switch
    {
        Completion.Succeeded => null,
        Completion.Canceled => new TaskCanceledException(),
        Completion.RecordsFailed => new BatchProducerException("Not every item was delivered.", new KafkaException(new Error(ErrorCode.Local_MsgTimedOut, "Message timed out", isFatal: false))),
        Completion.DrainTimeout => new BatchProducerException("Every accepted item was delivered, but the pipeline did not finish cleanly.", new TimeoutException("The drain did not finish within the drain timeout.")),
        Completion.FatalProducerError => new BatchProducerException("The pipeline was aborted.", new KafkaException(new Error(ErrorCode.OutOfOrderSequenceNumber, "Broker: out of order sequence number", isFatal: true))),
        Completion.FatalProducerErrorDeepInTheChain => new AggregateException(new BatchProducerException("The pipeline was aborted.", new InvalidOperationException("The sink failed.", new KafkaException(new Error(ErrorCode.Local_Fatal, "fatal idempotent producer error", isFatal: true))))),
        _ => new BatchProducerException("Not every item was delivered.", new KafkaException(new Error(ErrorCode.Local_AllBrokersDown, "1/1 brokers are down", isFatal: false))),
    };
}
