namespace DataflowProducer;

/// <summary>What became of one accepted item.</summary>
public enum OutcomeStatus
{
    /// <summary>The sink acknowledged the item as delivered.</summary>
    Delivered,

    /// <summary>The sink reported the item failed (<see cref="ItemOutcome{T}.Error"/> says why).</summary>
    Failed,

    /// <summary>Abandoned before the sink or its client was given the item: safe to send again, no duplicate.</summary>
    NotSent,

    /// <summary>Abandoned after the sink was given the item, with no outcome within the settle time: it may or may not
    /// have been delivered, so sending it again may duplicate it.</summary>
    Unknown,
}
