using Kiln.Trials.Expansion;

namespace Kiln.Trials.Running;

/// <summary>What a runner reports while it works.</summary>
public abstract record TrialEvent
{
    public sealed record Planned(int Pending, int Complete) : TrialEvent;
    public sealed record Started(TrialSpec Trial) : TrialEvent;
    public sealed record Finished(TrialOutcome Outcome) : TrialEvent;
}

/// <summary>How a run of the tree went.</summary>
public sealed record RunSummary(ExpansionResult Expansion, int AlreadyComplete, IReadOnlyList<TrialOutcome> Outcomes)
{
    public int Completed => Outcomes.Count(o => o.Status == TrialStatus.Complete);
    public int Failed => Outcomes.Count(o => o.Status == TrialStatus.Failed);
    public int Stopped => Outcomes.Count(o => o.Status is TrialStatus.Pending or TrialStatus.Running);
    public bool Succeeded => Failed == 0 && Stopped == 0 && Expansion.Errors.Count == 0;
}

/// <summary>
/// Expands the tree, then runs every incomplete trial, <c>jobs</c> at a time. A failed trial is recorded with its
/// cause and the others go on; cancelling stops the running trials cleanly (they stay incomplete) and starts no more;
/// running again resumes with whatever is not complete. The output of an interrupted attempt is moved to
/// <c>attempts/&lt;n&gt;/</c> before its trial starts over.
/// </summary>
public static class TrialRunner
{
    public static async Task<RunSummary> RunAsync(string root, TrialFilter filter, int jobs, ITrialExecutor executor,
        Action<TrialEvent>? onEvent = null, CancellationToken stop = default)
    {
        if (jobs < 1) throw new ArgumentOutOfRangeException(nameof(jobs), "jobs must be at least 1");
        var expansion = TreeExpander.Expand(root, filter);
        var trials = expansion.Trials.ToList();
        var pending = trials.Where(t => TrialState.Of(t.Dir) is not (TrialStatus.Complete or TrialStatus.Running)).ToList();
        onEvent?.Invoke(new TrialEvent.Planned(pending.Count, trials.Count - pending.Count));
        var outcomes = new List<TrialOutcome>();
        using var slots = new SemaphoreSlim(jobs);
        var running = new List<Task>();
        foreach (var trial in pending)
        {
            try
            {
                await slots.WaitAsync(stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            ArchiveAttempt(trial.Dir);
            onEvent?.Invoke(new TrialEvent.Started(trial));
            running.Add(Task.Run(async () =>
            {
                try
                {
                    var outcome = await executor.RunAsync(root, trial, stop);
                    lock (outcomes) outcomes.Add(outcome);
                    onEvent?.Invoke(new TrialEvent.Finished(outcome));
                }
                finally
                {
                    slots.Release();
                }
            }, CancellationToken.None));
        }
        await Task.WhenAll(running);
        return new RunSummary(expansion, trials.Count - pending.Count,
            outcomes.OrderBy(o => o.Trial.Leaf, StringComparer.Ordinal).ThenBy(o => o.Trial.Index).ToList());
    }

    /// <summary>
    /// Mirrors the seed's <c>run_trials(datasets=…, modes=…)</c>: expands and runs the matching trials in this process.
    /// </summary>
    public static RunSummary RunTrials(string root = ".", IEnumerable<string>? datasets = null, IEnumerable<string>? modes = null, int? jobs = null) =>
        RunAsync(root, new TrialFilter(modes?.ToList(), datasets?.ToList()), jobs ?? Environment.ProcessorCount, new InProcessExecutor())
            .GetAwaiter().GetResult();

    /// <summary>Moves what an interrupted attempt left (metrics, logs) to <c>attempts/&lt;n&gt;/</c>.</summary>
    private static void ArchiveAttempt(string dir)
    {
        var leftovers = new[] { Kiln.Protocol.RunFiles.Metrics, "stdout.log", "stderr.log" }
            .Select(f => Path.Combine(dir, f)).Where(File.Exists).ToList();
        if (leftovers.Count == 0) return;
        var n = 1;
        while (Directory.Exists(Path.Combine(dir, "attempts", n.ToString(System.Globalization.CultureInfo.InvariantCulture)))) n++;
        var target = Directory.CreateDirectory(Path.Combine(dir, "attempts", n.ToString(System.Globalization.CultureInfo.InvariantCulture))).FullName;
        foreach (var f in leftovers) File.Move(f, Path.Combine(target, Path.GetFileName(f)));
    }
}
