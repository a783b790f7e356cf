namespace DataflowProducer.Tests.Shared;

/// <summary>The test tiers' category names, one spelling for every test project and for <c>--filter TestCategory=...</c>.</summary>
internal static class TestCategories
{
    /// <summary>Tests against librdkafka's mock cluster.</summary>
    public const string Integration = "Integration";

    /// <summary>Tests against a real broker process.</summary>
    public const string RealBroker = "RealBroker";
}
