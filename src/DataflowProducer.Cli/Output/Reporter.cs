namespace DataflowProducer.Cli.Output;

/// <summary>Everything the tool says on standard error: messages, the live progress line, the summary table.
/// One lock orders writes from the reader loop, the progress timer and the pipeline's callbacks.</summary>
internal sealed class Reporter
{
    private readonly TextWriter _error;
    private readonly Lock _lock = new();
    private bool _statusShown;

    public Reporter(TextWriter error, bool isTerminal, bool quiet)
    {
        _error = error;
        IsTerminal = isTerminal;
        Quiet = quiet;
    }

    /// <summary>True when standard error is a terminal: progress rewrites one line in place.</summary>
    public bool IsTerminal { get; }

    /// <summary>True with <c>--quiet</c>: no progress.</summary>
    public bool Quiet { get; }

    /// <summary>Writes a line, first clearing the live progress line.</summary>
    /// <param name="text">The line.</param>
    public void Line(string text)
    {
        lock (_lock)
        {
            ClearStatusLocked();
            _error.WriteLine(text);
            _error.Flush();
        }
    }

    /// <summary>Shows progress: rewrites the live line on a terminal, or writes a line otherwise. Nothing when quiet.</summary>
    /// <param name="text">The progress text.</param>
    public void Status(string text)
    {
        if (Quiet)
        {
            return;
        }

        lock (_lock)
        {
            if (IsTerminal)
            {
                // \r back to the start, the text, then erase whatever a longer earlier line left.
                _error.Write("\r" + text + "\u001b[K");
                _statusShown = true;
            }
            else
            {
                _error.WriteLine(text);
            }

            _error.Flush();
        }
    }

    /// <summary>Erases the live progress line, if one is shown.</summary>
    public void ClearStatus()
    {
        lock (_lock)
        {
            ClearStatusLocked();
            _error.Flush();
        }
    }

    private void ClearStatusLocked()
    {
        if (_statusShown)
        {
            _error.Write("\r\u001b[K");
            _statusShown = false;
        }
    }
}
