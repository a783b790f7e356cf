using System.Text;
using Confluent.Kafka;
using DataflowProducer.Kafka.Testing;
using DataflowProducer.Tests.Shared;

namespace DataflowProducer.Cli.Tests.Integration;

[Category(TestCategories.Integration)]
public class ProduceCommandTests
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(30);
    private MockKafkaCluster _cluster = null!;
    private string _topic = null!;
    private string _directory = null!;

    [SetUp]
    public void SetUp()
    {
        _cluster = MockKafkaCluster.Start(3);
        _topic = $"cli-{Guid.NewGuid():N}";
        _cluster.CreateTopic(_topic, 4);
        _directory = Directory.CreateTempSubdirectory("dataflow-producer-cli-").FullName;
    }

    [TearDown]
    public void TearDown()
    {
        _cluster.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Test, CancelAfter(60_000)]
    public async Task Produce_JsonlWithKeyField_TopicHoldsExactLinesKeyedAndInOrderPerKey(CancellationToken ct)
    {
        string[] lines = [.. Enumerable.Range(0, 300).Select(i => $"{{\"id\":\"user-{i % 7}\",\"seq\":{i},\"text\":\"caf\u00e9 \\\"{i}\\\"\"}}")];
        string file = WriteFile("in.jsonl", string.Join("\r\n", lines) + "\r\n");

        CliRun run = await CliRun.RunAsync(Args("--input", file, "--format", "jsonl", "--key-field", "id", "--batch-size", "50", "--linger", "5"));

        var read = TopicReader.ReadAll(_cluster.BootstrapServers, _topic, ReadTimeout);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
            Assert.That(run.Summary["accepted"], Is.EqualTo("300"));
            Assert.That(run.Summary["delivered"], Is.EqualTo("300"));
            Assert.That(run.Summary["failed"], Is.EqualTo("0"));
            Assert.That(read.Select(r => (Key(r), Encoding.UTF8.GetString(r.Message.Value!))), Is.EquivalentTo(lines.Select((l, i) => ($"user-{i % 7}", l))));
            Assert.That(read.Select(r => r.Message.Value), Is.EquivalentTo(lines.Select(l => Encoding.UTF8.GetBytes(l))), "values are the input bytes exactly");
            foreach (var byKey in read.GroupBy(Key))
            {
                var values = byKey.OrderBy(r => r.Offset.Value).Select(r => Encoding.UTF8.GetString(r.Message.Value!)).ToList();
                Assert.That(values, Is.EqualTo(lines.Where(l => l.Contains($"\"user-{byKey.Key.Split('-')[1]}\"", StringComparison.Ordinal))), $"order of key {byKey.Key}");
            }
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Produce_Adaptive_EveryRecordDelivered(CancellationToken ct)
    {
        string[] lines = [.. Enumerable.Range(0, 2000).Select(i => $"line {i}")];
        string file = WriteFile("in.txt", string.Join("\n", lines) + "\n");

        CliRun run = await CliRun.RunAsync(Args("--input", file, "--batch-size", "100", "--linger", "5", "--adaptive"));

        var read = TopicReader.ReadAll(_cluster.BootstrapServers, _topic, ReadTimeout);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
            Assert.That(run.Summary["delivered"], Is.EqualTo("2000"));
            Assert.That(read.Select(r => Encoding.UTF8.GetString(r.Message.Value!)), Is.EquivalentTo(lines));
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Produce_CsvWithHeaderAndQuotedFields_ValuesAreRawLinesKeysUnquoted(CancellationToken ct)
    {
        string file = WriteFile("in.csv", "id,name,city\n1,\"Smith, Jane\",Paris\n\"2\",\"say \"\"hi\"\"\",Oslo\n3,Bob,\n");

        CliRun run = await CliRun.RunAsync(Args("--input", file, "--format", "csv", "--key-field", "name"));

        var read = TopicReader.ReadAll(_cluster.BootstrapServers, _topic, ReadTimeout);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
            Assert.That(run.Summary["accepted"], Is.EqualTo("3"));
            Assert.That(read.Select(r => (Key(r), Encoding.UTF8.GetString(r.Message.Value!))), Is.EquivalentTo(new[]
            {
                ("Smith, Jane", "1,\"Smith, Jane\",Paris"),
                ("say \"hi\"", "\"2\",\"say \"\"hi\"\"\",Oslo"),
                ("Bob", "3,Bob,"),
            }));
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Produce_LinesFromStandardInput_EveryLineOnceWithoutTerminatorOrKey(CancellationToken ct)
    {
        byte[] input = CliRun.Utf8("alpha\r\nbeta\n\ngamma ünïcode\nno-newline-at-end");

        CliRun run = await CliRun.RunAsync(Args("--input", "-", "--json"), input);

        var read = TopicReader.ReadAll(_cluster.BootstrapServers, _topic, ReadTimeout);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
            Assert.That(run.Output.Trim(), Does.Match("""^\{"accepted":5,"delivered":5,"failed":0,"abandoned":0,"not_sent":0,"unknown":0,"batches":\d+,"seconds":[0-9.]+\}$"""));
            Assert.That(read.Select(r => Encoding.UTF8.GetString(r.Message.Value!)), Is.EquivalentTo(new[] { "alpha", "beta", "", "gamma ünïcode", "no-newline-at-end" }));
            Assert.That(read.Select(r => r.Message.Key), Is.All.Null);
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Produce_GenerateWithVerify_VerifiedAndSummaryCounts(CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(Args("--generate", "5000", "--size", "64", "--verify"));

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
            Assert.That(run.Summary["accepted"], Is.EqualTo("5000"));
            Assert.That(run.Summary["delivered"], Is.EqualTo("5000"));
            Assert.That(run.Error, Does.Contain("verify").And.Contain("OK: 5,000 records read back"));
            Assert.That(TopicReader.CountMessages(_cluster.BootstrapServers, _topic), Is.EqualTo(5000));
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Produce_MalformedJsonLines_ReportedByLineNumberCountedFailedRestDelivered(CancellationToken ct)
    {
        string file = WriteFile("in.jsonl", "{\"id\":\"a\"}\n{\"id\":\n{\"id\":\"b\"}\n\n{\"other\":1}\n{\"id\":\"c\"}\n");

        CliRun run = await CliRun.RunAsync(Args("--input", file, "--format", "jsonl", "--key-field", "id"));

        var read = TopicReader.ReadAll(_cluster.BootstrapServers, _topic, ReadTimeout);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(3));
            Assert.That(run.Error, Does.Contain("line 2: malformed").And.Contain("invalid JSON"));
            Assert.That(run.Error, Does.Contain("line 5: malformed").And.Contain("missing key field \"id\""));
            Assert.That(run.Summary["accepted"], Is.EqualTo("5"));
            Assert.That(run.Summary["delivered"], Is.EqualTo("3"));
            Assert.That(run.Summary["failed"], Is.EqualTo("2"));
            Assert.That(read.Select(Key), Is.EquivalentTo(new[] { "a", "b", "c" }));
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Produce_JsonlLinesThatCannotBeKeys_ReportedByLineNumberCountedFailedRestDelivered(CancellationToken ct)
    {
        byte[] input =
        [
            .. "{\"id\":\"a\"}\n"u8,
            .. "{\"id\":\"\\ud800\"}\n"u8,
            .. "{\"id\":\"b\"}\n"u8,
            .. "{\"id\":\""u8, 0xFF, .. "\"}\n"u8,
            .. "{\"id\":\"c\",\"v\":"u8, .. Encoding.UTF8.GetBytes(new string('[', 1000)), .. "\n"u8,
            .. "{\"id\":\"d\"}\n"u8,
        ];

        CliRun run = await CliRun.RunAsync(Args("--input", "-", "--format", "jsonl", "--key-field", "id"), input).WaitAsync(ct);

        var read = TopicReader.ReadAll(_cluster.BootstrapServers, _topic, ReadTimeout);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(3), run.Error);
            Assert.That(run.Error, Does.Contain("line 2: malformed").And.Contain("not valid Unicode"));
            Assert.That(run.Error, Does.Contain("line 4: malformed").And.Contain("UTF-8"));
            Assert.That(run.Error, Does.Contain("line 5: malformed").And.Contain("depth"));
            Assert.That(run.Summary["accepted"], Is.EqualTo("6"));
            Assert.That(run.Summary["delivered"], Is.EqualTo("3"));
            Assert.That(run.Summary["failed"], Is.EqualTo("3"));
            Assert.That(read.Select(Key), Is.EquivalentTo(new[] { "a", "b", "d" }));
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Produce_StrictWithJsonlKeyThatIsALoneSurrogate_StopsThereAndDeliversWhatCameBefore(CancellationToken ct)
    {
        byte[] input = CliRun.Utf8("{\"id\":\"a\"}\n{\"id\":\"\\ud800\"}\n{\"id\":\"b\"}\n");

        CliRun run = await CliRun.RunAsync(Args("--input", "-", "--format", "jsonl", "--key-field", "id", "--strict"), input).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(3), run.Error);
            Assert.That(run.Error, Does.Contain("line 2: malformed"));
            Assert.That(run.Summary["accepted"], Is.EqualTo("2"));
            Assert.That(run.Summary["delivered"], Is.EqualTo("1"));
            Assert.That(run.Summary["failed"], Is.EqualTo("1"));
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Produce_InputFailsAfterTwoLines_WhatWasReadIsDeliveredSummaryPrintedExitCode1(CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(Args("--input", "-"), () => new FailingInput(CliRun.Utf8("one\ntwo\n"), "the disk went away")).WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(1), run.Error);
            Assert.That(run.Error, Does.Contain("the disk went away"));
            Assert.That(run.Summary["accepted"], Is.EqualTo("2"));
            Assert.That(run.Summary["delivered"], Is.EqualTo("2"));
            Assert.That(TopicReader.CountMessages(_cluster.BootstrapServers, _topic), Is.EqualTo(2));
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Produce_StrictWithMalformedCsvLine_StopsThereAndDeliversWhatCameBefore(CancellationToken ct)
    {
        string file = WriteFile("in.csv", "id,v\n1,a\n2,\"broken\n3,c\n");

        CliRun run = await CliRun.RunAsync(Args("--input", file, "--format", "csv", "--strict"));

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(3));
            Assert.That(run.Error, Does.Contain("line 3: malformed").And.Contain("unterminated quoted field 2"));
            Assert.That(run.Summary["accepted"], Is.EqualTo("2"));
            Assert.That(run.Summary["delivered"], Is.EqualTo("1"));
            Assert.That(run.Summary["failed"], Is.EqualTo("1"));
            Assert.That(TopicReader.CountMessages(_cluster.BootstrapServers, _topic), Is.EqualTo(1));
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Produce_CsvHeaderWithoutKeyField_BadArguments(CancellationToken ct)
    {
        string file = WriteFile("in.csv", "id,v\n1,a\n");

        CliRun run = await CliRun.RunAsync(Args("--input", file, "--format", "csv", "--key-field", "name"));

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Error, Does.Contain("key field \"name\" is not in the CSV header (id, v)"));
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Produce_PropertyPassthrough_ReachesTheProducerConfigAndSecretsNeverPrinted(CancellationToken ct)
    {
        const string Secret = "s3cr3t-Hunter2";

        CliRun run = await CliRun.RunAsync(Args("--generate", "10", "--show-config", "-X", "linger.ms=7", "-X", "compression.type=lz4", "-X", $"sasl.password={Secret}", "-X", "sasl.username=alice"));

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
            Assert.That(run.Error, Does.Contain("linger.ms = 7").And.Contain("compression.type = lz4").And.Contain("sasl.username = alice"));
            Assert.That(run.Error, Does.Contain("sasl.password = [redacted]"));
            Assert.That(run.Error + run.Output, Does.Not.Contain(Secret));
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Produce_UnknownProperty_BadArgumentsNamingItWithoutTheSecret(CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(Args("--generate", "10", "-X", "no.such.setting=1", "-X", "ssl.key.password=TopSecretValue"));

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Error, Does.Contain("no.such.setting"));
            Assert.That(run.Error + run.Output, Does.Not.Contain("TopSecretValue"));
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Produce_CtrlCWhileReadingStandardInput_StopsReadingDrainsAndAccountsForEveryRecord(CancellationToken ct)
    {
        using var shutdown = new ShutdownSignal();
        using var input = new BlockingInput();
        Task<CliRun> running = CliRun.RunAsync(Args("--input", "-"), () => input, shutdown);
        for (int i = 0; i < 25; i++)
        {
            input.WriteLine($"line {i}");
        }

        // Ctrl+C once the tool has read (and the pipeline accepted) all 25, however long that takes: the drain must
        // then deliver whatever is still lingering or in flight.
        await input.AllReadAsync().WaitAsync(ct);
        shutdown.Request(System.Runtime.InteropServices.PosixSignal.SIGINT);
        CliRun run = await running.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(130), run.Error);
            Assert.That(run.Error, Does.Contain("Stopping"));
            Assert.That(run.Summary["accepted"], Is.EqualTo("25"));
            Assert.That(run.Summary["delivered"], Is.EqualTo("25"));
            Assert.That(run.Summary["abandoned"], Is.EqualTo("0"));
            Assert.That(TopicReader.CountMessages(_cluster.BootstrapServers, _topic), Is.EqualTo(25));
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Produce_SecondCtrlCWhileBrokersAreDown_AbortsAndWritesAbandonedRecords(CancellationToken ct)
    {
        using var shutdown = new ShutdownSignal();
        using var input = new BlockingInput();
        string abandonedFile = Path.Combine(_directory, "abandoned.txt");
        _cluster.SetAllBrokersDown();
        Task<CliRun> running = CliRun.RunAsync(Args("--input", "-", "--abandoned-file", abandonedFile, "--linger", "5", "--drain-timeout", "-1"), () => input, shutdown);
        for (int i = 0; i < 10; i++)
        {
            input.WriteLine($"stuck {i}");
        }

        // Once the 10 records are read, however long that takes (the test used to give it 1 s): the first Ctrl+C
        // stops reading and the drain waits on the brokers, which are down and never deliver (no drain timeout); the
        // second aborts. Whether it comes before or after the drain started, the 10 records are abandoned.
        await input.AllReadAsync().WaitAsync(ct);
        shutdown.Request(System.Runtime.InteropServices.PosixSignal.SIGINT);
        shutdown.Request(System.Runtime.InteropServices.PosixSignal.SIGINT);
        CliRun run = await running.WaitAsync(ct);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(4), run.Error);
            Assert.That(run.Summary["accepted"], Is.EqualTo("10"));
            Assert.That(run.Summary["abandoned"], Is.EqualTo("10"));
            Assert.That(File.ReadAllLines(abandonedFile), Is.EquivalentTo(Enumerable.Range(0, 10).Select(i => $"stuck {i}")));
        });
    }

    private static string Key(ConsumeResult<byte[]?, byte[]?> r) => r.Message.Key is null ? "<null>" : Encoding.UTF8.GetString(r.Message.Key);

    [Test, CancelAfter(60_000)]
    public async Task Produce_EnsureTopicWithMorePartitionsThanTheTopicHas_ErrorLineExitCode1NothingProduced(CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(Args("--generate", "20", "--ensure-topic", "8"));

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(1), run.Error);
            Assert.That(run.Error, Does.Contain($"error: --ensure-topic: Topic '{_topic}' has 4 partition(s), fewer than EnsureTopicOptions.Partitions (8)."));
            Assert.That(run.Error, Does.Contain("Nothing was produced."));
            Assert.That(run.Summary["accepted"], Is.EqualTo("0"));
            Assert.That(TopicReader.ReadAll(_cluster.BootstrapServers, _topic, TimeSpan.FromSeconds(5)), Is.Empty);
        });
    }

    [Test, CancelAfter(60_000)]
    public async Task Produce_EnsureTopicWithFewerPartitionsThanTheTopicHas_WarnsAndProduces(CancellationToken ct)
    {
        CliRun run = await CliRun.RunAsync(Args("--generate", "20", "--ensure-topic", "2"));

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(0), run.Error);
            Assert.That(run.Error, Does.Contain($"warning: topic '{_topic}' differs from --ensure-topic and is left as it is: 4 partitions, more than the asked 2."));
            Assert.That(run.Summary["delivered"], Is.EqualTo("20"));
        });
    }

    private string[] Args(params string[] more) => ["produce", "--topic", _topic, "--bootstrap-servers", _cluster.BootstrapServers, "--quiet", .. more];

    private string WriteFile(string name, string content)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllText(path, content);
        return path;
    }
}
