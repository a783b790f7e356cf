using Microsoft.Win32.SafeHandles;

namespace DataflowProducer.Tests.TestSupport;

/// <summary>
/// The states of this process's pool worker threads as Linux shows them in <c>/proc/self/task</c>. Each worker's
/// <c>stat</c> file stays open and is read again from its start, so a count costs one read per worker; threads that
/// ended are dropped. Not thread-safe: the caller locks.
/// </summary>
internal sealed class ThreadStates
{
    private const string Tasks = "/proc/self/task";
    private static readonly byte[] PoolWorkerName = ".NET TP Worker"u8.ToArray();
    private readonly Dictionary<string, Entry> _threads = [];
    private readonly byte[] _processName = ReadName("/proc/self");
    private int _generation;

    /// <summary>The pool workers running or waiting for a processor (state R), the caller included if it is one.</summary>
    public int CountRunnable()
    {
        int generation = ++_generation;
        int runnable = 0;
        Span<byte> stat = stackalloc byte[256];
        foreach (string task in Directory.EnumerateDirectories(Tasks))
        {
            if (!_threads.TryGetValue(task, out Entry? thread))
            {
                thread = Classify(task);
                if (thread is null)
                {
                    // Not named yet (a new thread carries the process's name until it names itself): asked again next time.
                    continue;
                }

                _threads[task] = thread;
            }

            thread.Generation = generation;
            if (thread.Stat is { } handle && IsRunnable(handle, stat))
            {
                runnable++;
            }
        }

        if (_threads.Count > 0 && _threads.Values.Any(t => t.Generation != generation))
        {
            foreach ((string task, Entry ended) in _threads.Where(t => t.Value.Generation != generation).ToList())
            {
                ended.Stat?.Dispose();
                _threads.Remove(task);
            }
        }

        return runnable;
    }

    // "tid (name) S ...": the name may hold spaces and parentheses, the state follows the last ')'.
    private static bool IsRunnable(SafeFileHandle handle, Span<byte> stat)
    {
        try
        {
            int read = RandomAccess.Read(handle, stat, 0);
            int close = stat[..read].LastIndexOf((byte)')');
            return close >= 0 && close + 2 < read && stat[close + 2] == (byte)'R';
        }
        catch (IOException)
        {
            // The thread ended since the list was read.
            return false;
        }
    }

    private Entry? Classify(string task)
    {
        try
        {
            byte[] name = ReadName(task);
            if (name.AsSpan().StartsWith(PoolWorkerName))
            {
                return new Entry(File.OpenHandle(Path.Combine(task, "stat")));
            }

            return name.AsSpan().SequenceEqual(_processName) ? null : new Entry(null);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static byte[] ReadName(string task) => File.ReadAllBytes(Path.Combine(task, "comm")).AsSpan().TrimEnd((byte)'\n').ToArray();

    // A thread's open stat file if it is a pool worker, null if it is another named thread.
    private sealed class Entry(SafeFileHandle? stat)
    {
        public SafeFileHandle? Stat { get; } = stat;

        public int Generation { get; set; }
    }
}
