using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace DataflowProducer.Hosting;

/// <summary>Validates <see cref="KafkaProducerBlockOptions"/> at host start (no reflection): every broken rule is
/// reported once, as one line that names the setting and its value.</summary>
/// <remarks>The rules live in one place, <see cref="KafkaProducerBlockOptions.Validate"/>, which checks the pipeline's
/// settings with the core's own validation; data annotations on the properties would report the same error twice.</remarks>
internal sealed class KafkaProducerBlockOptionsValidator : IValidateOptions<KafkaProducerBlockOptions>
{
    public ValidateOptionsResult Validate(string? name, KafkaProducerBlockOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var context = new ValidationContext(options, name ?? nameof(KafkaProducerBlockOptions), serviceProvider: null, items: null);
        List<string> errors = [.. options.Validate(context).Select(static r => r.ErrorMessage ?? "A setting is invalid.")];
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
