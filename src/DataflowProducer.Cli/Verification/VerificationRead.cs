namespace DataflowProducer.Cli.Verification;

/// <summary>What <see cref="TopicVerifier"/> found.</summary>
/// <param name="Digest">The digest of the records read back.</param>
/// <param name="Appended">How many records the topic's end offsets moved by during the run.</param>
/// <param name="Missing">How many of those the broker had already dropped when they were to be read.</param>
internal sealed record VerificationRead(ContentDigest Digest, long Appended, long Missing);
