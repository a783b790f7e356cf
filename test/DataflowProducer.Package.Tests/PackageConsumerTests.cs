using System.Diagnostics;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Xml.Linq;

namespace DataflowProducer.Package.Tests;

[Category("Package")]
public class PackageConsumerTests
{
    private const string ConsumerProgram = """
        using System.Threading.Tasks.Dataflow;
        using Confluent.Kafka;
        using DataflowProducer;
        using DataflowProducer.Hosting;
        using DataflowProducer.Kafka;
        using DataflowProducer.Kafka.Testing;
        using DataflowProducer.Testing;
        using Microsoft.Extensions.Configuration;
        using Microsoft.Extensions.DependencyInjection;
        using Microsoft.Extensions.Hosting;
        using Microsoft.Extensions.Logging;

        // DataflowProducer.Testing: a pipeline over the in-memory sink, no Kafka involved.
        var recording = new RecordingBatchSink<int>();
        var inMemory = new BatchProducerBlock<int>(recording, new BatchProducerOptions { BatchSize = 10 });
        for (int i = 0; i < 25; i++)
        {
            await inMemory.SendAsync(i);
        }

        inMemory.Complete();
        await inMemory.Completion;
        Console.WriteLine($"RECORDED {recording.Items.Count}");

        // DataflowProducer.Kafka.Testing: the mock cluster and the topic reader.
        using var cluster = MockKafkaCluster.Start(3);
        cluster.CreateTopic("consumer-check", 4);
        var block = KafkaProducerBlock.Create(
            new ProducerConfig { BootstrapServers = cluster.BootstrapServers },
            new KafkaSinkOptions<string, string> { DefaultTopic = "consumer-check" },
            new BatchProducerOptions { BatchSize = 1000, Linger = TimeSpan.FromHours(1) });
        for (int i = 0; i < 100; i++)
        {
            await block.SendAsync(new KafkaRecord<string, string>($"k{i}", $"v{i}"));
        }

        block.Complete();
        await block.Completion;
        var read = TopicReader.ReadAll(cluster.BootstrapServers, "consumer-check", TimeSpan.FromSeconds(30));
        Console.WriteLine($"DELIVERED {block.GetStatistics().Delivered} READ {read.Count}");

        // DataflowProducer.Hosting: a named block bound from configuration, drained when the host stops. (The mock
        // cluster answers no admin request, so the topic is made here rather than through EnsureTopic.)
        cluster.CreateTopic("hosted-check", 3);
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kafka:Orders:DefaultTopic"] = "hosted-check",
            ["Kafka:Orders:BatchSize"] = "50",
            ["Kafka:Orders:Producer:bootstrap.servers"] = cluster.BootstrapServers,
        });
        builder.Services.AddKafkaProducerBlock<string, string>("orders", builder.Configuration.GetSection("Kafka:Orders"));
        using (IHost host = builder.Build())
        {
            await host.StartAsync();
            var target = host.Services.GetRequiredKeyedService<ITargetBlock<KafkaRecord<string, string>>>("orders");
            for (int i = 0; i < 120; i++)
            {
                await target.SendAsync(new KafkaRecord<string, string>($"k{i}", $"v{i}"));
            }

            await host.StopAsync();
            var hosted = host.Services.GetRequiredKeyedService<BatchProducerBlock<KafkaRecord<string, string>>>("orders");
            await hosted.Completion;
            Console.WriteLine($"HOSTED {hosted.GetStatistics().Delivered} READ {TopicReader.CountMessages(cluster.BootstrapServers, "hosted-check")}");
        }
        """;

    [Test, CancelAfter(900_000)]
    public async Task PackedPackages_RestoredIntoAFreshProjectAndInstalledAsATool_RunPipelinesAHostAndTheMainJobOnTheMockCluster(CancellationToken ct)
    {
        string repoRoot = FindRepoRoot();
        string configuration = typeof(PackageConsumerTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "BuildConfiguration").Value!;
        string feed = Path.Combine(repoRoot, "artifacts", "packages");
        string version = $"0.1.0-t{Guid.NewGuid():N}"[..24];
        string consumer = Directory.CreateTempSubdirectory("dataflowproducer-consumer-").FullName;
        try
        {
            foreach (string project in new[] { "DataflowProducer", "DataflowProducer.Kafka", "DataflowProducer.Testing", "DataflowProducer.Kafka.Testing", "DataflowProducer.Hosting", "DataflowProducer.Cli" })
            {
                await RunAsync(repoRoot, ["pack", $"src/{project}/{project}.csproj", "-c", configuration, "--no-build", $"-p:PackageVersion={version}", "-o", feed], ct);
            }

            await File.WriteAllTextAsync(Path.Combine(consumer, "Consumer.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <Nullable>enable</Nullable>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="DataflowProducer.Kafka" Version="{version}" />
                    <PackageReference Include="DataflowProducer.Testing" Version="{version}" />
                    <PackageReference Include="DataflowProducer.Kafka.Testing" Version="{version}" />
                    <PackageReference Include="DataflowProducer.Hosting" Version="{version}" />
                    <PackageReference Include="Microsoft.Extensions.Hosting" Version="10.0.0" />
                  </ItemGroup>
                </Project>
                """, ct);
            await File.WriteAllTextAsync(Path.Combine(consumer, "Program.cs"), ConsumerProgram, ct);
            await File.WriteAllTextAsync(Path.Combine(consumer, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="dataflowproducer-local" value="{feed}" />
                  </packageSources>
                </configuration>
                """, ct);

            string output = await RunAsync(consumer, ["run", "-c", "Release"], ct);

            // The tool, installed from the feed as the README says, runs the main job on its embedded cluster.
            string tools = Path.Combine(consumer, "tools");
            await RunAsync(consumer, ["tool", "install", "DataflowProducer.Cli", "--version", version, "--tool-path", tools, "--add-source", feed], ct);
            string job = await RunAsync(consumer, [Path.Combine(tools, "dataflow-producer"), "produce", "--topic", "demo", "--generate", "5000", "--verify"], ct, executable: true);

            Assert.Multiple(() =>
            {
                Assert.That(output, Does.Contain("RECORDED 25"));
                Assert.That(output, Does.Contain("DELIVERED 100 READ 100"));
                Assert.That(output, Does.Contain("HOSTED 120 READ 120"));
                Assert.That(job, Does.Contain("SUMMARY accepted=5000 delivered=5000 failed=0 abandoned=0"));
                Assert.That(Dependencies(feed, "DataflowProducer.Testing", version), Is.EquivalentTo(new[] { "DataflowProducer" }), "the Kafka-free test kit depends on the core only");
                Assert.That(Dependencies(feed, "DataflowProducer.Kafka.Testing", version), Does.Contain("Confluent.Kafka"));
            });
        }
        finally
        {
            Directory.Delete(consumer, recursive: true);
            foreach (string package in Directory.EnumerateFiles(feed, $"*.{version}.*nupkg"))
            {
                File.Delete(package);
            }
        }
    }

    // The package ids a packed package depends on, read from its nuspec the way a restore reads them.
    private static List<string> Dependencies(string feed, string package, string version)
    {
        using ZipArchive nupkg = ZipFile.OpenRead(Path.Combine(feed, $"{package}.{version}.nupkg"));
        ZipArchiveEntry nuspec = nupkg.Entries.Single(e => e.FullName == $"{package}.nuspec");
        using Stream stream = nuspec.Open();
        return XDocument.Load(stream).Descendants().Where(e => e.Name.LocalName == "dependency").Select(e => (string)e.Attribute("id")!).Distinct().ToList();
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "DataflowProducer.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("DataflowProducer.sln not found above the test directory.");
    }

    // Runs `dotnet ARGUMENTS`, or with executable the program ARGUMENTS[0] with the rest; fails the test on a non-zero exit.
    private static async Task<string> RunAsync(string workingDirectory, string[] arguments, CancellationToken ct, bool executable = false)
    {
        var start = new ProcessStartInfo(executable ? arguments[0] : "dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in executable ? arguments[1..] : arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The test host runs inside `dotnet test`: do not let its MSBuild settings leak into the child builds.
        foreach (string variable in new[] { "MSBuildSDKsPath", "MSBuildExtensionsPath", "MSBUILD_EXE_PATH", "MSBuildLoadMicrosoftTargetsReadOnly", "VSTEST_HOST_DEBUG" })
        {
            start.Environment.Remove(variable);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";

        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        Task stdout = Pump(process.StandardOutput, output);
        Task stderr = Pump(process.StandardError, output);
        try
        {
            await process.WaitForExitAsync(ct);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        await Task.WhenAll(stdout, stderr);
        string text = output.ToString();
        Assert.That(process.ExitCode, Is.Zero, $"{start.FileName} {string.Join(' ', start.ArgumentList)} failed:\n{text}");
        return text;
    }

    private static async Task Pump(StreamReader reader, StringBuilder into)
    {
        string? line;
        while ((line = await reader.ReadLineAsync()) is not null)
        {
            lock (into)
            {
                into.AppendLine(line);
            }
        }
    }
}
