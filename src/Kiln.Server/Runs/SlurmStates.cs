using Kiln.Execution.Slurm;
using Kiln.Registry.Workspace;
using Kiln.Server.Security;

namespace Kiln.Server.Runs;

/// <summary>
/// Slurm's view of the trials submitted from the served workspace, for the runs page: each run directory a submission
/// under <c>.kiln/jobs/</c> names, with its latest task's state (<c>PENDING</c>, <c>RUNNING</c>, <c>COMPLETED</c>,
/// <c>PREEMPTED</c>, …, and how many times it was requeued) — what <c>kiln trials status</c> shows, read by the same
/// <see cref="ISlurmStatusSource"/>. The answer is cached: requests read the cache, and the cluster is asked with one
/// batched call for all unfinished tasks when a poll is due, polls spaced by <see cref="FirstPoll"/> doubling up to
/// <see cref="MaxPoll"/> while nothing changes. Tasks that ended are not asked about again, nobody looking means no
/// call at all, and a request that arrives while another polls is answered from the cache at once.
/// </summary>
public sealed class SlurmStates
{
    private readonly string _jobsDir;
    private readonly Confinement _confinement;
    private readonly ISlurmStatusSource _source;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private Dictionary<string, (SlurmSubmission Submission, string SlurmId)> _latest = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SlurmTaskState> _states = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _missing = new(StringComparer.Ordinal);
    private long _scannedAt = long.MinValue;
    private long _pollAt = long.MinValue;
    private TimeSpan _wait;
    private volatile View _view = View.Empty;

    /// <summary>What a request reads: each run directory's Slurm task and state (null when not known yet), and why Slurm could not be asked, if it could not.</summary>
    public sealed record View(IReadOnlyDictionary<string, (string Id, SlurmTaskState? State)> ByDir, string? Problem)
    {
        public static readonly View Empty = new(new Dictionary<string, (string, SlurmTaskState?)>(StringComparer.Ordinal), null);
    }

    public SlurmStates(string root, Confinement confinement, ISlurmStatusSource source, TimeProvider? time = null)
    {
        _jobsDir = new WorkspacePaths(root).Jobs;
        _confinement = confinement;
        _source = source;
        _time = time ?? TimeProvider.System;
        _wait = FirstPoll;
    }

    /// <summary>The wait after a poll that saw a change (or a new submission); it doubles while polls see none.</summary>
    public TimeSpan FirstPoll { get; init; } = TimeSpan.FromSeconds(2);

    public TimeSpan MaxPoll { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How often the submission records are looked at again (file reads only; no Slurm call).</summary>
    public TimeSpan RescanInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Polls in a row in which Slurm does not know a task before it counts as <c>UNKNOWN</c> and is no longer asked about.</summary>
    public int MissingPolls { get; init; } = 3;

    /// <summary>Calls made to the status source so far.</summary>
    public int Polls { get; private set; }

    /// <summary>The states as of the last poll, polling first when one is due and no other request is polling.</summary>
    public View Current()
    {
        if (!_gate.TryEnter()) return _view;
        try
        {
            Refresh();
            return _view;
        }
        finally
        {
            _gate.Exit();
        }
    }

    private void Refresh()
    {
        var now = _time.GetTimestamp();
        var added = false;
        if (_scannedAt == long.MinValue || _time.GetElapsedTime(_scannedAt, now) >= RescanInterval)
        {
            _scannedAt = now;
            Dictionary<string, (SlurmSubmission Submission, string SlurmId)> latest = Directory.Exists(_jobsDir) && _confinement.Holds(_jobsDir)
                ? SlurmSubmission.Latest(SlurmSubmission.ReadAll(_jobsDir))
                : new(StringComparer.Ordinal);
            added = latest.Any(kv => !_latest.TryGetValue(kv.Key, out var was) || was.SlurmId != kv.Value.SlurmId);
            if (added || latest.Count != _latest.Count)
            {
                _latest = latest;
                Publish(_view.Problem);
            }
        }
        var open = _latest.Values.Select(v => v.SlurmId).Where(id => !_states.TryGetValue(id, out var s) || Open(id, s)).Distinct(StringComparer.Ordinal).ToList();
        if (open.Count == 0 || (!added && _pollAt != long.MinValue && _time.GetElapsedTime(_pollAt, now) < _wait)) return;
        _pollAt = now;
        Polls++;
        var changed = added;
        string? problem = null;
        try
        {
            var answer = _source.Read(open.Select(SlurmStatusReader.ArrayOf).Distinct(StringComparer.Ordinal).ToList());
            foreach (var id in open)
            {
                var state = answer.GetValueOrDefault(id);
                if (state is null)
                {
                    _missing[id] = _missing.GetValueOrDefault(id) + 1;
                    if (_missing[id] < MissingPolls) continue;
                    state = SlurmTaskState.Unknown;
                }
                else _missing.Remove(id);
                if (_states.GetValueOrDefault(id) == state) continue;
                _states[id] = state;
                changed = true;
            }
        }
        catch (SlurmException ex)
        {
            // The controller is busy, restarting or absent: the page shows what it last knew, and says why it is not newer.
            problem = $"cannot ask Slurm where the trials stand: {ex.Message}";
        }
        _wait = changed ? FirstPoll : TimeSpan.FromTicks(Math.Min(_wait.Ticks * 2, MaxPoll.Ticks));
        Publish(problem);
    }

    /// <summary>Still worth asking about: not ended, and not given up on as unknown.</summary>
    private bool Open(string id, SlurmTaskState state) => !state.Ended && !(state == SlurmTaskState.Unknown && _missing.GetValueOrDefault(id) >= MissingPolls);

    private void Publish(string? problem)
    {
        var byDir = new Dictionary<string, (string, SlurmTaskState?)>(StringComparer.Ordinal);
        foreach (var (dir, (_, id)) in _latest) byDir[dir] = (id, _states.GetValueOrDefault(id));
        _view = new View(byDir, problem);
    }
}
