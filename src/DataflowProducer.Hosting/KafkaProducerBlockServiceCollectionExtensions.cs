using System.Diagnostics.Metrics;
using System.Threading.Tasks.Dataflow;
using DataflowProducer.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DataflowProducer.Hosting;

/// <summary>Registers named Kafka producer blocks with a host.</summary>
/// <remarks>
/// Each registration adds, under its name as the service key, a <see cref="BatchProducerBlock{T}"/> of
/// <see cref="KafkaRecord{TKey, TValue}"/> and the same instance as an <see cref="ITargetBlock{TInput}"/>
/// (inject with <c>[FromKeyedServices("orders")]</c>), plus a hosted service that drains the block when the host
/// stops. Options are validated when the host starts; a bad value stops the start with a message naming the setting.
/// </remarks>
public static class KafkaProducerBlockServiceCollectionExtensions
{
    /// <summary>Registers a named Kafka producer block configured in code.</summary>
    /// <typeparam name="TKey">The key type (Confluent's default serializers cover string, byte[], int, long, float, double, Null).</typeparam>
    /// <typeparam name="TValue">The value type.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="name">The registration's name, also the service key.</param>
    /// <param name="configure">Sets the options.</param>
    /// <param name="callbacks">Creates the callbacks that receive failed and abandoned records; null for none.</param>
    /// <returns>The services, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty.</exception>
    public static IServiceCollection AddKafkaProducerBlock<TKey, TValue>(
        this IServiceCollection services,
        string name,
        Action<KafkaProducerBlockOptions> configure,
        Func<IServiceProvider, BatchProducerCallbacks<KafkaRecord<TKey, TValue>>>? callbacks = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<KafkaProducerBlockOptions>(name).Configure(configure).ValidateOnStart();
        return AddCore(services, name, callbacks);
    }

    /// <summary>Registers a named Kafka producer block bound from a configuration section (see
    /// <see cref="KafkaProducerBlockOptions"/> for its shape).</summary>
    /// <typeparam name="TKey">The key type.</typeparam>
    /// <typeparam name="TValue">The value type.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="name">The registration's name, also the service key.</param>
    /// <param name="configuration">The section to bind.</param>
    /// <param name="callbacks">Creates the callbacks that receive failed and abandoned records; null for none.</param>
    /// <returns>The services, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty.</exception>
    public static IServiceCollection AddKafkaProducerBlock<TKey, TValue>(
        this IServiceCollection services,
        string name,
        IConfiguration configuration,
        Func<IServiceProvider, BatchProducerCallbacks<KafkaRecord<TKey, TValue>>>? callbacks = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<KafkaProducerBlockOptions>(name)
            .Bind(configuration)
            .Configure(options =>
            {
                // An empty section ("Adaptive": { }, "EnsureTopic": { }) is a key without a value or children, which
                // the binder skips; it still means "on, with the defaults".
                if (options.Adaptive is null && UnknownSettings.Names(configuration, nameof(KafkaProducerBlockOptions.Adaptive)))
                {
                    options.Adaptive = new AdaptiveBatchingOptions();
                }

                if (options.EnsureTopic is null && UnknownSettings.Names(configuration, nameof(KafkaProducerBlockOptions.EnsureTopic)))
                {
                    options.EnsureTopic = new EnsureTopicOptions();
                }

                options.UnknownSettingErrors = [.. UnknownSettings.Find(configuration, typeof(KafkaProducerBlockOptions))];
            })
            .ValidateOnStart();
        return AddCore(services, name, callbacks);
    }

    private static IServiceCollection AddCore<TKey, TValue>(IServiceCollection services, string name, Func<IServiceProvider, BatchProducerCallbacks<KafkaRecord<TKey, TValue>>>? callbacks)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KafkaProducerBlockOptions>, KafkaProducerBlockOptionsValidator>());
        services.AddKeyedSingleton(name, (sp, _) => new KafkaProducerBlockHost<TKey, TValue>(
            name,
            sp.GetRequiredService<IOptionsMonitor<KafkaProducerBlockOptions>>().Get(name),
            callbacks?.Invoke(sp),
            sp.GetService<ILoggerFactory>(),
            sp.GetService<TimeProvider>() ?? TimeProvider.System,
            sp.GetService<IMeterFactory>()));
        services.AddKeyedSingleton(name, static (sp, key) => sp.GetRequiredKeyedService<KafkaProducerBlockHost<TKey, TValue>>(key).Block);
        services.AddKeyedSingleton<ITargetBlock<KafkaRecord<TKey, TValue>>>(name, static (sp, key) => sp.GetRequiredKeyedService<BatchProducerBlock<KafkaRecord<TKey, TValue>>>(key));

        // Not AddHostedService: it de-duplicates by type, and every name needs its own.
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredKeyedService<KafkaProducerBlockHost<TKey, TValue>>(name));
        return services;
    }
}
