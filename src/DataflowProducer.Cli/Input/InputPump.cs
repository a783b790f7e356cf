using System.Globalization;
using System.Threading.Tasks.Dataflow;
using DataflowProducer.Cli.Output;
using DataflowProducer.Cli.Verification;
using DataflowProducer.Kafka;

namespace DataflowProducer.Cli.Input;

/// <summary>The single reader: reads the input and sends each record to the pipeline, in input order. Malformed lines
/// are reported and counted (and end the read with <c>--strict</c>); the first signal ends it.</summary>
internal sealed class InputPump
{
    private const int MaxReportedMalformed = 1000;

    private readonly RecordReader _reader;
    private readonly ITargetBlock<KafkaRecord<byte[]?, byte[]>> _pipeline;
    private readonly bool _strict;
    private readonly Reporter _reporter;
    private readonly ContentDigest? _sent;
    private readonly AbandonedRecordsWriter _abandoned;
    private long _malformed;
    private long _refused;

    /// <summary>Initializes a pump.</summary>
    /// <param name="reader">The input.</param>
    /// <param name="pipeline">Where the records go.</param>
    /// <param name="strict">True with <c>--strict</c>: stop at the first malformed line.</param>
    /// <param name="reporter">Where malformed lines are reported.</param>
    /// <param name="sent">What <c>--verify</c> expects, or null without it: every record sent is added.</param>
    /// <param name="abandoned">Keeps a record the aborting pipeline refused.</param>
    public InputPump(RecordReader reader, ITargetBlock<KafkaRecord<byte[]?, byte[]>> pipeline, bool strict, Reporter reporter, ContentDigest? sent, AbandonedRecordsWriter abandoned)
    {
        _reader = reader;
        _pipeline = pipeline;
        _strict = strict;
        _reporter = reporter;
        _sent = sent;
        _abandoned = abandoned;
    }

    /// <summary>Gets the number of malformed lines read so far (never sent, counted failed).</summary>
    public long Malformed => Interlocked.Read(ref _malformed);

    /// <summary>Gets the number of records the aborting pipeline refused (never sent, counted abandoned): 0 or 1.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Reads until the input ends, a first signal stops it, <c>--strict</c> meets a malformed line, or the
    /// pipeline refuses a record.</summary>
    /// <param name="stopping">The first signal.</param>
    /// <returns>Why the input ended. Whatever the input throws, other than the stop's cancellation, comes out.</returns>
    public async Task<InputEnd> RunAsync(CancellationToken stopping)
    {
        while (true)
        {
            InputRecord? input;
            try
            {
                input = await _reader.ReadAsync(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return InputEnd.Stopped;
            }

            if (input is null)
            {
                return InputEnd.EndOfInput;
            }

            if (input.IsMalformed)
            {
                ReportMalformed(input);
                if (_strict)
                {
                    _reporter.Line("--strict: stopping at the first malformed line.");
                    return InputEnd.StrictStop;
                }

                continue;
            }

            var record = new KafkaRecord<byte[]?, byte[]> { Key = input.Key, Value = input.Value };
            _sent?.Add(record.Key, record.Key is null, record.Value);

            // Post takes the record when there is room; otherwise SendAsync waits for room (backpressure). Neither
            // is canceled by a stop request: a record that was read is handed over. Only an aborting pipeline
            // refuses it, and then it is counted abandoned, like the records the pipeline hands back.
            if (!await _pipeline.SendAsync(record).ConfigureAwait(false))
            {
                _sent?.Remove(record.Key, record.Key is null, record.Value);
                Interlocked.Increment(ref _refused);
                _abandoned.Keep([record]);
                return InputEnd.Refused;
            }
        }
    }

    private void ReportMalformed(InputRecord input)
    {
        long malformed = Interlocked.Increment(ref _malformed);
        if (malformed <= MaxReportedMalformed)
        {
            _reporter.Line(string.Create(CultureInfo.InvariantCulture, $"line {input.LineNumber}: malformed, not produced: {input.Error}"));
        }
        else if (malformed == MaxReportedMalformed + 1)
        {
            _reporter.Line("(further malformed lines are counted, not shown)");
        }
    }
}
