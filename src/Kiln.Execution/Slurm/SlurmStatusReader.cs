using System.Text;

namespace Kiln.Execution.Slurm;

/// <summary>
/// Reads where the tasks of some job arrays stand, with one Slurm call per read whatever the number of tasks:
/// <c>sacct</c> where the cluster keeps accounting; otherwise <c>squeue</c> for what is queued or running, and the
/// <c>jobcomp/filetxt</c> file for what ended (<c>squeue</c> forgets a finished job after <c>MinJobAge</c>). The
/// completion file is read incrementally, from where the last read stopped.
/// </summary>
public sealed class SlurmStatusReader : ISlurmStatusSource
{
    private bool? _sacct;
    private string? _jobComp;
    private bool _jobCompLooked;
    private long _jobCompOffset;
    private readonly Dictionary<string, SlurmTaskState> _ended = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _requeues = new(StringComparer.Ordinal);

    /// <param name="useSacct">Ask <c>sacct</c> first (null: try it once and remember whether accounting answers).</param>
    public SlurmStatusReader(bool? useSacct = null) => _sacct = useSacct;

    /// <summary>Slurm tools run so far: one per <see cref="Read"/> (plus one the first time, when <c>sacct</c> turns out not to answer).</summary>
    public int Calls { get; private set; }

    /// <summary>Which source answered the last read: <c>sacct</c> or <c>squeue+jobcomp</c>.</summary>
    public string Source => _sacct == true ? "sacct" : "squeue+jobcomp";

    /// <summary>The state of every task of these arrays that some source knows, by <c>arrayid_task</c>.</summary>
    public IReadOnlyDictionary<string, SlurmTaskState> Read(IReadOnlyCollection<string> arrayIds)
    {
        var states = new Dictionary<string, SlurmTaskState>(StringComparer.Ordinal);
        if (arrayIds.Count == 0) return states;
        if (_sacct != false && ReadSacct(arrayIds, states)) return states;
        ReadJobComp();
        var arrays = arrayIds.ToHashSet(StringComparer.Ordinal);
        foreach (var (id, state) in _ended)
        {
            if (arrays.Contains(ArrayOf(id))) states[id] = state;
        }
        ReadSqueue(arrayIds, states);
        return states;
    }

    private bool ReadSacct(IReadOnlyCollection<string> arrayIds, Dictionary<string, SlurmTaskState> states)
    {
        Calls++;
        var output = SlurmCli.Run("sacct", ["-X", "-n", "-P", "-j", string.Join(',', arrayIds), "-o", "JobID,State,ExitCode"]);
        // Without accounting, sacct says so (on some versions with exit code 0) and knows nothing.
        var disabled = !output.Ok || (output.Stdout + output.Stderr).Contains("accounting storage is disabled", StringComparison.OrdinalIgnoreCase);
        if (disabled)
        {
            _sacct = false;
            return false;
        }
        _sacct = true;
        foreach (var line in output.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split('|');
            if (f.Length < 3) continue;
            var state = SlurmTaskState.Word(f[1]);
            var exit = SlurmTaskState.ParseExit(f[2]);
            // A requeued task is listed by sacct -X with its latest state; earlier runs show as REQUEUED/PREEMPTED only with -D.
            foreach (var id in ExpandTaskIds(f[0])) states[id] = new SlurmTaskState(state, state == "PENDING" || state == "RUNNING" ? null : exit);
        }
        return true;
    }

    private void ReadSqueue(IReadOnlyCollection<string> arrayIds, Dictionary<string, SlurmTaskState> states)
    {
        Calls++;
        var output = SlurmCli.Run("squeue", ["-h", "-r", "-j", string.Join(',', arrayIds), "-o", "%i|%T"]);
        if (!output.Ok)
        {
            // Every array already forgotten: squeue refuses the ids instead of listing nothing.
            if (output.Stderr.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase)) return;
            throw new SlurmException($"squeue exited with code {output.ExitCode}: {output.Stderr.Trim()}");
        }
        foreach (var line in output.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split('|');
            if (f.Length < 2) continue;
            var state = SlurmTaskState.Word(f[1]);
            foreach (var id in ExpandTaskIds(f[0].Trim())) states[id] = new SlurmTaskState(state, null, _requeues.GetValueOrDefault(id));
        }
    }

    /// <summary>Reads the completion records added since the last read: the last record of a task is where it ended.</summary>
    private void ReadJobComp()
    {
        if (!_jobCompLooked)
        {
            _jobCompLooked = true;
            var config = SlurmCli.Config();
            if (config.GetValueOrDefault("JobCompType") == "jobcomp/filetxt") _jobComp = config.GetValueOrDefault("JobCompLoc");
        }
        if (_jobComp is null || !File.Exists(_jobComp)) return;
        using var stream = new FileStream(_jobComp, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (stream.Length < _jobCompOffset) _jobCompOffset = 0; // rotated
        stream.Position = _jobCompOffset;
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var text = reader.ReadToEnd();
        // Only whole lines: a record being written is read next time.
        var end = text.LastIndexOf('\n');
        if (end < 0) return;
        _jobCompOffset += Encoding.UTF8.GetByteCount(text.AsSpan(0, end + 1));
        foreach (var line in text.AsSpan(0, end).EnumerateLines())
        {
            if (ParseJobComp(line) is not var (id, state)) continue;
            if (state.Kind is Jobs.JobState.Queued or Jobs.JobState.Running || state.State == "PREEMPTED")
            {
                // A run that ended by going back to the queue (requeue, preemption): the task runs again. Each such
                // run leaves one record, so counting them counts the requeues.
                _requeues[id] = _requeues.GetValueOrDefault(id) + 1;
                _ended.Remove(id);
            }
            else _ended[id] = state with { Requeues = _requeues.GetValueOrDefault(id) };
        }
    }

    /// <summary><c>… JobState=COMPLETED … ArrayJobId=12 ArrayTaskId=3 … ExitCode=0:0</c> → (<c>12_3</c>, COMPLETED, 0).</summary>
    internal static (string Id, SlurmTaskState State)? ParseJobComp(ReadOnlySpan<char> line)
    {
        string? state = null, array = null, task = null, exit = null;
        foreach (var range in line.Split(' '))
        {
            var field = line[range];
            var eq = field.IndexOf('=');
            if (eq <= 0) continue;
            var key = field[..eq];
            if (key.SequenceEqual("JobState")) state = field[(eq + 1)..].ToString();
            else if (key.SequenceEqual("ArrayJobId")) array = field[(eq + 1)..].ToString();
            else if (key.SequenceEqual("ArrayTaskId")) task = field[(eq + 1)..].ToString();
            else if (key.SequenceEqual("ExitCode")) exit = field[(eq + 1)..].ToString();
        }
        if (state is null || array is null || task is null || array == "0") return null;
        var word = SlurmTaskState.Word(state);
        return ($"{array}_{task}", new SlurmTaskState(word, SlurmTaskState.ParseExit(exit)));
    }

    /// <summary>The array a task id belongs to: <c>12_3</c> → <c>12</c>.</summary>
    public static string ArrayOf(string taskId)
    {
        var u = taskId.IndexOf('_', StringComparison.Ordinal);
        return u < 0 ? taskId : taskId[..u];
    }

    /// <summary><c>12_3</c> → 12_3; <c>12_[0-3,7%2]</c> (pending tasks listed as one line) → 12_0 … 12_3, 12_7.</summary>
    internal static IEnumerable<string> ExpandTaskIds(string id)
    {
        var open = id.IndexOf("_[", StringComparison.Ordinal);
        if (open < 0)
        {
            yield return id;
            yield break;
        }
        var array = id[..open];
        var inner = id[(open + 2)..].TrimEnd(']');
        var percent = inner.IndexOf('%', StringComparison.Ordinal);
        if (percent >= 0) inner = inner[..percent];
        foreach (var part in inner.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var dash = part.IndexOf('-', StringComparison.Ordinal);
            var colon = part.IndexOf(':', StringComparison.Ordinal);
            var step = colon > 0 && int.TryParse(part[(colon + 1)..], out var s) ? s : 1;
            var range = colon > 0 ? part[..colon] : part;
            if (dash < 0)
            {
                if (int.TryParse(range, out var single)) yield return $"{array}_{single}";
                continue;
            }
            if (!int.TryParse(range[..dash], out var from) || !int.TryParse(range[(dash + 1)..], out var to)) continue;
            for (var i = from; i <= to; i += Math.Max(1, step)) yield return $"{array}_{i}";
        }
    }
}
