using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using Confluent.Kafka;

namespace DataflowProducer.Kafka.Testing.Internal;

/// <summary>
/// P/Invoke bindings for the parts of librdkafka that Confluent.Kafka does not expose: the mock cluster
/// (rdkafka_mock.h) and the few client calls needed to own the handle it lives in.
/// </summary>
/// <remarks>
/// <para>
/// The bindings must reach <em>the same</em> native file that Confluent.Kafka loaded. If they did not,
/// the process would hold two librdkafka copies with separate global state, and on Debian the default
/// <c>runtimes/linux-x64/native/librdkafka.so</c> does not even load (it needs <c>libsasl2.so.3</c>), so
/// Confluent.Kafka falls back to <c>centos8-librdkafka.so</c>. A <see cref="DllImportResolver"/> therefore
/// makes Confluent.Kafka load its library first and then picks the file it loaded: on Linux the one
/// already mapped into the process (read from <c>/proc/self/maps</c>); otherwise, or if that fails, the
/// candidates in Confluent.Kafka's own order. Asking the loader for a file that is already loaded returns
/// the existing handle, so no second copy is mapped.
/// </para>
/// <para>
/// Handles are <see cref="IntPtr"/> values owned by <see cref="MockClusterHandle"/>; buffers passed to
/// native code are unmanaged (<see cref="Marshal.AllocHGlobal(int)"/>) or pinned only for one call.
/// </para>
/// </remarks>
internal static class LibrdKafkaNative
{
    /// <summary>The name every <see cref="DllImportAttribute"/> in this class uses; resolved by <see cref="Resolve"/>.</summary>
    private const string LibraryName = "librdkafka";

    /// <summary>librdkafka's <c>RD_KAFKA_PRODUCER</c>.</summary>
    internal const int ProducerType = 0;

    /// <summary>librdkafka's <c>RD_KAFKA_CONF_OK</c>.</summary>
    internal const int ConfOk = 0;

    /// <summary>Broker id meaning "every broker" in the <c>rd_kafka_mock_broker_set_*</c> calls.</summary>
    internal const int AllBrokers = -1;

    /// <summary>Size of the error buffers handed to librdkafka (Confluent.Kafka uses the same).</summary>
    internal const int ErrorBufferSize = 512;

    private static readonly Lock LoadLock = new();
    private static IntPtr _libraryHandle;
    private static string? _loadedFrom;

    static LibrdKafkaNative()
    {
        NativeLibrary.SetDllImportResolver(typeof(LibrdKafkaNative).Assembly, Resolve);
    }

    /// <summary>
    /// Where the bindings were loaded from: a full path when it came from the process's memory map, else
    /// the candidate name or path that loaded; <see langword="null"/> before <see cref="EnsureLoaded"/>.
    /// </summary>
    internal static string? LoadedFrom
    {
        get
        {
            lock (LoadLock)
            {
                return _loadedFrom;
            }
        }
    }

    /// <summary>
    /// Loads librdkafka through Confluent.Kafka, then binds this class to the same file.
    /// </summary>
    /// <exception cref="DllNotFoundException">librdkafka could not be loaded.</exception>
    internal static void EnsureLoaded()
    {
        lock (LoadLock)
        {
            if (_libraryHandle != IntPtr.Zero)
            {
                return;
            }

            // Confluent.Kafka loads its native library lazily; make it choose first, so that there is
            // exactly one choice to follow. Throws DllNotFoundException when nothing loads.
            _ = Library.Version;

            foreach (string candidate in Candidates())
            {
                if (NativeLibrary.TryLoad(candidate, typeof(Library).Assembly, searchPath: null, out IntPtr handle)
                    && NativeLibrary.TryGetExport(handle, "rd_kafka_mock_cluster_new", out _))
                {
                    _libraryHandle = handle;
                    _loadedFrom = candidate;
                    return;
                }
            }

            throw new DllNotFoundException(
                "Confluent.Kafka loaded librdkafka, but no librdkafka file with the mock cluster API could be " +
                "found for the DataflowProducer.Kafka.Testing bindings (looked for: " + string.Join(", ", Candidates()) + ").");
        }
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (libraryName != LibraryName)
        {
            return IntPtr.Zero;
        }

        EnsureLoaded();
        return _libraryHandle;
    }

    /// <summary>
    /// Files to try, best first. On Linux the librdkafka files already mapped into this process come first,
    /// which also honours a path the application gave to <c>Library.Load(path)</c>. Then Confluent.Kafka's own
    /// order: on Linux <c>librdkafka</c> then <c>centos8-librdkafka</c> (<c>alpine-librdkafka</c> on Alpine),
    /// elsewhere <c>librdkafka</c>; first by name through the runtime's probing for the Confluent.Kafka
    /// assembly (deps.json native assets, application folder), then as paths under <c>runtimes/&lt;rid&gt;/native</c>
    /// and the folder itself, next to Confluent.Kafka.dll and next to the application.
    /// </summary>
    private static IEnumerable<string> Candidates()
    {
        if (OperatingSystem.IsLinux())
        {
            foreach (string mapped in MappedLibrdKafkaFiles())
            {
                yield return mapped;
            }
        }

        string[] names = ConfluentLoadOrder();
        foreach (string name in names)
        {
            yield return name;
        }

        string extension = OperatingSystem.IsWindows() ? ".dll" : OperatingSystem.IsMacOS() ? ".dylib" : ".so";
        string portableRid = PortableRuntimeIdentifier();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string? baseDirectory in new[] { Path.GetDirectoryName(typeof(Library).Assembly.Location), AppContext.BaseDirectory })
        {
            if (string.IsNullOrEmpty(baseDirectory))
            {
                continue;
            }

            foreach (string name in names)
            {
                foreach (string path in new[]
                {
                    Path.Combine(baseDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", name + extension),
                    Path.Combine(baseDirectory, "runtimes", portableRid, "native", name + extension),
                    Path.Combine(baseDirectory, name + extension),
                })
                {
                    if (seen.Add(path) && File.Exists(path))
                    {
                        yield return path;
                    }
                }
            }
        }
    }

    /// <summary>The library names Confluent.Kafka binds to, in the order it tries them.</summary>
    private static string[] ConfluentLoadOrder()
    {
        if (!OperatingSystem.IsLinux())
        {
            return ["librdkafka"];
        }

        return IsAlpine() ? ["alpine-librdkafka"] : ["librdkafka", "centos8-librdkafka"];
    }

    private static bool IsAlpine()
    {
        try
        {
            return File.Exists("/etc/os-release")
                && File.ReadLines("/etc/os-release").Any(line =>
                    line.Equals("ID=alpine", StringComparison.OrdinalIgnoreCase)
                    || line.Equals("ID=\"alpine\"", StringComparison.OrdinalIgnoreCase));
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static string PortableRuntimeIdentifier()
    {
        string os = OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : "linux";
        string architecture = RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        return os + "-" + architecture;
    }

    /// <summary>Full paths of files named like librdkafka that are mapped into this process, in map order.</summary>
    internal static IReadOnlyList<string> MappedLibrdKafkaFiles()
    {
        var files = new List<string>();
        try
        {
            foreach (string line in File.ReadLines("/proc/self/maps"))
            {
                // Format: address perms offset dev inode [path]; the path is the rest of the line after the
                // first '/', and may contain spaces.
                int slash = line.IndexOf('/', StringComparison.Ordinal);
                if (slash < 0)
                {
                    continue;
                }

                string path = line[slash..];
                string fileName = Path.GetFileName(path);
                if (fileName.Contains("librdkafka", StringComparison.Ordinal)
                    && !fileName.Contains("librdkafkacpp", StringComparison.Ordinal)
                    && (fileName.EndsWith(".so", StringComparison.Ordinal) || fileName.Contains(".so.", StringComparison.Ordinal))
                    && !files.Contains(path))
                {
                    files.Add(path);
                }
            }
        }
        catch (IOException)
        {
            // No procfs (or not readable): fall back to Confluent.Kafka's candidate order.
        }
        catch (UnauthorizedAccessException)
        {
        }

        return files;
    }

    // --- client ---------------------------------------------------------------------------------

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl)]
    internal static extern IntPtr rd_kafka_conf_new();

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl)]
    internal static extern void rd_kafka_conf_destroy(IntPtr conf);

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl)]
    internal static extern int rd_kafka_conf_set(
        IntPtr conf,
        byte[] name,
        byte[] value,
        IntPtr errstr,
        nuint errstrSize);

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl)]
    internal static extern IntPtr rd_kafka_new(int type, IntPtr conf, IntPtr errstr, nuint errstrSize);

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl)]
    internal static extern void rd_kafka_destroy(IntPtr rk);

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl)]
    internal static extern IntPtr rd_kafka_err2str(int err);

    // --- mock cluster (rdkafka_mock.h) ----------------------------------------------------------

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl)]
    internal static extern IntPtr rd_kafka_mock_cluster_new(IntPtr rk, int brokerCount);

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl)]
    internal static extern void rd_kafka_mock_cluster_destroy(IntPtr mcluster);

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl)]
    internal static extern IntPtr rd_kafka_mock_cluster_bootstraps(MockClusterHandle mcluster);

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl)]
    internal static extern int rd_kafka_mock_topic_create(
        MockClusterHandle mcluster,
        byte[] topic,
        int partitionCount,
        int replicationFactor);

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl)]
    internal static extern int rd_kafka_mock_broker_set_down(MockClusterHandle mcluster, int brokerId);

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl)]
    internal static extern int rd_kafka_mock_broker_set_up(MockClusterHandle mcluster, int brokerId);

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl)]
    internal static extern int rd_kafka_mock_broker_set_rtt(MockClusterHandle mcluster, int brokerId, int rttMs);

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl)]
    internal static extern void rd_kafka_mock_push_request_errors_array(
        MockClusterHandle mcluster,
        short apiKey,
        nuint count,
        int[] errors);

    [DllImport(LibraryName, CallingConvention = CallingConvention.Cdecl)]
    internal static extern void rd_kafka_mock_clear_request_errors(MockClusterHandle mcluster, short apiKey);

    /// <summary>
    /// <paramref name="text"/> as the NUL-terminated UTF-8 that librdkafka's <c>const char*</c> parameters take.
    /// The array is pinned only for the duration of the call it is passed to.
    /// </summary>
    internal static byte[] Utf8(string text)
    {
        byte[] bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
        Encoding.UTF8.GetBytes(text, bytes);
        return bytes;
    }

    /// <summary>librdkafka's description of <paramref name="error"/> (a static string, never freed).</summary>
    internal static string ErrorToString(int error) =>
        Marshal.PtrToStringUTF8(rd_kafka_err2str(error)) ?? ("error " + error);
}
