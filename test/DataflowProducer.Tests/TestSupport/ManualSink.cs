using DataflowProducer.Testing;
using NSubstitute;

namespace DataflowProducer.Tests.TestSupport;

/// <summary>
/// A substituted <see cref="IBatchSink{T}"/> whose acknowledgements the test completes by hand, one
/// <see cref="TaskCompletionSource{T}"/> per batch: out of order, with any result (even an invalid one) or an
/// exception. Recording the batches and waiting for them is <see cref="RecordingBatchSink{T}"/>'s job; this adapter
/// adds only what that sink cannot do (it acknowledges in order, with results it computes), and keeps
/// <see cref="Sink"/> a substitute so a test can script or check <c>FlushAsync</c>. Where a test needs none of that,
/// use <see cref="RecordingBatchSink{T}"/> itself.
/// </summary>
internal sealed class ManualSink
{
    private readonly object _lock = new();
    private readonly RecordingBatchSink<int> _recording = new();
    private readonly List<TaskCompletionSource<BatchResult>> _acks = [];
    private readonly List<int> _unacknowledgedAtAccept = [];

    public ManualSink()
    {
        Sink = Substitute.For<IBatchSink<int>>();
        // NSubstitute configures a call by making it, so the ValueTask these calls return is never awaited.
#pragma warning disable CA2012
        Sink.AcceptAsync(Arg.Any<ReadOnlyMemory<int>>(), Arg.Any<CancellationToken>())
            .Returns(call => new ValueTask<Task<BatchResult>>(Accept(call.Arg<ReadOnlyMemory<int>>())));
#pragma warning restore CA2012
        Sink.FlushAsync(Arg.Any<TimeSpan>(), Arg.Any<CancellationToken>()).Returns(Task.CompletedTask);
    }

    public IBatchSink<int> Sink { get; }

    /// <summary>When set, each batch is acknowledged at once with the result this returns.</summary>
    public Func<int[], BatchResult>? AutoAcknowledge { get; set; }

    public IReadOnlyList<int[]> Batches => _recording.Batches;

    public IReadOnlyList<int> Items => _recording.Items;

    /// <summary>For each call, how many earlier acknowledgements were still incomplete when it was made.</summary>
    public IReadOnlyList<int> UnacknowledgedAtAccept
    {
        get
        {
            lock (_lock)
            {
                return [.. _unacknowledgedAtAccept];
            }
        }
    }

    /// <summary>The acknowledgement of the <paramref name="call"/>-th batch (zero-based).</summary>
    public TaskCompletionSource<BatchResult> Ack(int call)
    {
        lock (_lock)
        {
            return _acks[call];
        }
    }

    public Task WaitForCallsAsync(int count, CancellationToken ct) => _recording.WaitForBatchesAsync(count, ct);

    private Task<BatchResult> Accept(ReadOnlyMemory<int> batch)
    {
        var ack = new TaskCompletionSource<BatchResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (AutoAcknowledge is { } auto)
        {
            ack.SetResult(auto(batch.ToArray()));
        }

        // The acknowledgement is in place before the recording sink wakes a WaitForCallsAsync, so a test that waited
        // for N calls can complete Ack(N - 1) at once.
        lock (_lock)
        {
            _unacknowledgedAtAccept.Add(_acks.Count(static a => !a.Task.IsCompleted));
            _acks.Add(ack);
        }

        // The recording sink acknowledges its own copy at once; only ours reaches the block.
        _ = _recording.AcceptAsync(batch, CancellationToken.None).AsTask();
        return ack.Task;
    }
}
