using Microsoft.Extensions.Options;

namespace DataflowProducer.Hosting;

/// <summary>Validates <see cref="KafkaProducerBlockOptions"/> at host start, with code generated at build time
/// (no reflection); failures name the setting.</summary>
[OptionsValidator]
internal sealed partial class KafkaProducerBlockOptionsValidator : IValidateOptions<KafkaProducerBlockOptions>
{
}
