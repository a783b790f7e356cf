using Confluent.Kafka;
using NSubstitute;

namespace DataflowProducer.Kafka.Tests.TestSupport;

/// <summary>A substituted <see cref="IProducer{TKey, TValue}"/> whose two <c>Produce</c> overloads are driven from
/// <c>When(...).Do(...)</c>: each call asks <see cref="React"/> what to do (deliver at once, fail at once, hold the
/// delivery handler for the test to call later, or throw), and every call is recorded.</summary>
internal sealed class ProducerStub
{
    private readonly object _lock = new();
    private readonly List<Attempt> _attempts = [];
    private readonly List<Produced> _produced = [];
    private readonly List<(int Count, TaskCompletionSource Reached)> _waiters = [];

    public ProducerStub()
    {
        Producer = Substitute.For<IProducer<string, string>>();
        Producer
            .When(p => p.Produce(Arg.Any<string>(), Arg.Any<Message<string, string>>(), Arg.Any<Action<DeliveryReport<string, string>>>()))
            .Do(call => OnProduce(new TopicPartition(call.ArgAt<string>(0), Partition.Any), call.ArgAt<Message<string, string>>(1), call.ArgAt<Action<DeliveryReport<string, string>>>(2), explicitPartition: false));
        Producer
            .When(p => p.Produce(Arg.Any<TopicPartition>(), Arg.Any<Message<string, string>>(), Arg.Any<Action<DeliveryReport<string, string>>>()))
            .Do(call => OnProduce(call.ArgAt<TopicPartition>(0), call.ArgAt<Message<string, string>>(1), call.ArgAt<Action<DeliveryReport<string, string>>>(2), explicitPartition: true));
    }

    public IProducer<string, string> Producer { get; }

    /// <summary>Decides each call's fate from the attempt number (0-based, over all calls, refused ones included) and
    /// the message. The default delivers every message at once, on the producing thread.</summary>
    public Func<int, Message<string, string>, Reaction> React { get; set; } = static (_, _) => Reaction.Deliver;

    public IReadOnlyList<Attempt> Attempts
    {
        get
        {
            lock (_lock)
            {
                return [.. _attempts];
            }
        }
    }

    /// <summary>The calls the client took (not refused), in order.</summary>
    public IReadOnlyList<Produced> ProducedMessages
    {
        get
        {
            lock (_lock)
            {
                return [.. _produced];
            }
        }
    }

    public IEnumerable<string> ProducedValues => ProducedMessages.Select(p => p.Message.Value);

    /// <summary>Completes when at least <paramref name="count"/> calls were made.</summary>
    public Task WhenAttempts(int count)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (_attempts.Count >= count)
            {
                return Task.CompletedTask;
            }

            _waiters.Add((count, reached));
        }

        return reached.Task;
    }

    /// <summary>Invokes the held delivery handler of the <paramref name="producedIndex"/>-th message the client took.</summary>
    public void Report(int producedIndex, ErrorCode code = ErrorCode.NoError)
    {
        Produced produced;
        lock (_lock)
        {
            produced = _produced[producedIndex];
        }

        produced.Handler(CreateReport(produced.TopicPartition, produced.Message, code));
    }

    public static DeliveryReport<string, string> CreateReport(TopicPartition topicPartition, Message<string, string> message, ErrorCode code) =>
        new()
        {
            TopicPartitionOffset = new TopicPartitionOffset(topicPartition, code == ErrorCode.NoError ? new Offset(0) : Offset.Unset),
            Message = message,
            Status = code == ErrorCode.NoError ? PersistenceStatus.Persisted : PersistenceStatus.NotPersisted,
            Error = new Error(code),
        };

    public static ProduceException<string, string> ProduceError(ErrorCode code, Message<string, string> message, Exception? inner = null) =>
        new(new Error(code, $"stub: {code}"), new DeliveryResult<string, string> { Message = message, Status = PersistenceStatus.NotPersisted }, inner);

    private void OnProduce(TopicPartition topicPartition, Message<string, string> message, Action<DeliveryReport<string, string>> handler, bool explicitPartition)
    {
        int number;
        List<TaskCompletionSource>? reached = null;
        lock (_lock)
        {
            number = _attempts.Count;
            _attempts.Add(new Attempt(topicPartition, message, explicitPartition));
            for (int i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Count <= _attempts.Count)
                {
                    (reached ??= []).Add(_waiters[i].Reached);
                    _waiters.RemoveAt(i);
                }
            }
        }

        reached?.ForEach(static r => r.TrySetResult());
        Reaction reaction = React(number, message);
        reaction.BeforeOutcome?.Invoke(this);
        if (reaction.Throw is { } exception)
        {
            throw exception;
        }

        lock (_lock)
        {
            _produced.Add(new Produced(topicPartition, message, handler));
        }

        if (reaction.Report is { } code)
        {
            DeliveryReport<string, string> report = CreateReport(topicPartition, message, code);
            report.Error = reaction.Error ?? report.Error;
            handler(report);
        }
    }

    public sealed record Attempt(TopicPartition TopicPartition, Message<string, string> Message, bool ExplicitPartition);

    public sealed record Produced(TopicPartition TopicPartition, Message<string, string> Message, Action<DeliveryReport<string, string>> Handler);
}

/// <summary>What a stubbed <c>Produce</c> call does.</summary>
/// <param name="Report">Reports this outcome through the handler at once; null holds the handler for later.</param>
/// <param name="Throw">Throws this instead of taking the message.</param>
/// <param name="BeforeOutcome">Runs inside the call first, e.g. to deliver another message's report concurrently.</param>
/// <param name="Error">The report's whole error (e.g. a fatal one) instead of one built from <paramref name="Report"/>.</param>
internal sealed record Reaction(ErrorCode? Report, Exception? Throw = null, Action<ProducerStub>? BeforeOutcome = null, Error? Error = null)
{
    public static Reaction Deliver { get; } = new(ErrorCode.NoError);

    public static Reaction Hold { get; } = new((ErrorCode?)null);

    public static Reaction Fail(ErrorCode code) => new(code);

    public static Reaction Fail(Error error) => new(error.Code, Error: error);

    public static Reaction Refuse(Exception exception) => new(null, exception);

    public static Reaction QueueFull(Message<string, string> message) => Refuse(ProducerStub.ProduceError(ErrorCode.Local_QueueFull, message));
}
