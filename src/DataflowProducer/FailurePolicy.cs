namespace DataflowProducer;

/// <summary>What <see cref="BatchProducerBlock{T}"/> does when an item fails.</summary>
public enum FailurePolicy
{
    /// <summary>
    /// Report the failed item and keep producing the rest (the default). When the pipeline finishes with any failed
    /// item, <see cref="System.Threading.Tasks.Dataflow.IDataflowBlock.Completion"/> ends faulted with a
    /// <see cref="BatchProducerException"/> that gives the counts: it never reports success over a failure.
    /// </summary>
    ReportAndContinue = 0,

    /// <summary>Report the failed item, then stop: everything not yet delivered is abandoned and handed back.</summary>
    FaultPipeline = 1,
}
