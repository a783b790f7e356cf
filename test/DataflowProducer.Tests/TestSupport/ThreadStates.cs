using Microsoft.Win32.SafeHandles;

namespace DataflowProducer.Tests.TestSupport;

/// <summary>
/// The states of this process's pool worker threads as Linux shows them in <c>/proc/self/task</c>. Each thread's
/// <c>stat</c> file stays open and is read again from its start, so a count costs one read per thread; the name and the
/// state come from the same read (a new thread is renamed a moment after it starts), and a thread that ended is dropped.
/// Not thread-safe: the caller locks.
/// </summary>
internal sealed class ThreadStates
{
    private const string Tasks = "/proc/self/task";
    private static readonly byte[] PoolWorkerName = ".NET TP Worker"u8.ToArray();
    private readonly Dictionary<string, Entry> _threads = [];
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
                try
                {
                    thread = new Entry(File.OpenHandle(Path.Combine(task, "stat")));
                }
                catch (IOException)
                {
                    // The thread ended while the list was read.
                    continue;
                }

                _threads[task] = thread;
            }

            thread.Generation = generation;
            switch (Read(thread.Stat, stat))
            {
                case State.RunnableWorker:
                    runnable++;
                    break;
                case State.Gone:
                    // Ended (its id may come back as another thread's): opened afresh next time.
                    thread.Generation = 0;
                    break;
            }
        }

        if (_threads.Values.Any(t => t.Generation != generation))
        {
            foreach ((string task, Entry ended) in _threads.Where(t => t.Value.Generation != generation).ToList())
            {
                ended.Stat.Dispose();
                _threads.Remove(task);
            }
        }

        return runnable;
    }

    // "tid (name) S ...": the name may hold spaces and parentheses, the state follows the last ')'.
    private static State Read(SafeFileHandle handle, Span<byte> stat)
    {
        int read;
        try
        {
            read = RandomAccess.Read(handle, stat, 0);
        }
        catch (IOException)
        {
            return State.Gone;
        }

        ReadOnlySpan<byte> line = stat[..read];
        int open = line.IndexOf((byte)'(');
        int close = line.LastIndexOf((byte)')');
        if (open < 0 || close < open || close + 2 >= read)
        {
            return read == 0 ? State.Gone : State.Other;
        }

        return line[(open + 1)..close].StartsWith(PoolWorkerName) && line[close + 2] == (byte)'R' ? State.RunnableWorker : State.Other;
    }

    private enum State
    {
        Other,
        RunnableWorker,
        Gone,
    }

    private sealed class Entry(SafeFileHandle stat)
    {
        public SafeFileHandle Stat { get; } = stat;

        public int Generation { get; set; }
    }
}
