using Kiln.Execution.Jobs;
using Kiln.Trials.Expansion;

namespace Kiln.Trials.Running;

/// <summary>What a runner reports while it works.</summary>
public abstract record TrialEvent
{
    public sealed record Planned(int Pending, int Complete) : TrialEvent;
    public sealed record Started(TrialSpec Trial) : TrialEvent;
    public sealed record Finished(TrialOutcome Outcome) : TrialEvent;
}

/// <summary>
/// The trials a run will start: the expansion, the trials to run (with the state each was in), how many are complete
/// already, and how many are busy elsewhere (running, or queued on a cluster).
/// </summary>
public sealed record TrialPlan(ExpansionResult Expansion, IReadOnlyList<TrialSpec> Pending, int AlreadyComplete, int Busy, IReadOnlyDictionary<TrialSpec, TrialStatus> States);

/// <summary>A trial and the job that runs it.</summary>
public sealed record TrialJob(TrialSpec Trial, JobHandle Job)
{
    public JobSpec Spec => Job.Spec;
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
/// Expands the tree, then submits every incomplete trial to an executor (a local process pool, threads of this
/// process, a cluster), which runs them as many at a time as it allows. A failed trial is recorded with its cause and
/// the others go on; cancelling stops the running trials cleanly (they stay incomplete) and starts no more; running
/// again resumes with whatever is not complete. What an earlier attempt left moves to <c>attempts/&lt;n&gt;/</c> before its
/// trial starts over (<see cref="TrialAttempts"/>).
/// </summary>
public static class TrialRunner
{
    /// <param name="job">The job that runs one trial (<see cref="TrialJobs.Worker"/>, <see cref="TrialJobs.InProcess"/>).</param>
    /// <param name="rerun">Complete trials to run again from scratch (stale ones, or ones named on the command line).</param>
    public static async Task<RunSummary> RunAsync(string root, TrialFilter filter, IJobExecutor executor, Func<TrialSpec, JobSpec> job,
        Action<TrialEvent>? onEvent = null, CancellationToken stop = default, Func<TrialSpec, bool>? rerun = null)
    {
        var plan = Plan(root, filter, rerun);
        onEvent?.Invoke(new TrialEvent.Planned(plan.Pending.Count, plan.AlreadyComplete));
        if (plan.Pending.Count == 0 || stop.IsCancellationRequested) return new RunSummary(plan.Expansion, plan.AlreadyComplete, []);
        var started = new HashSet<JobSpec>(ReferenceEqualityComparer.Instance);
        var submitted = Submit(plan, executor, job, h =>
        {
            lock (started) started.Add(h.Spec);
            onEvent?.Invoke(new TrialEvent.Started(h.Trial));
        });
        var outcomes = new List<TrialOutcome>();
        using (stop.Register(() => { foreach (var h in submitted) executor.Cancel(h.Job); }))
        {
            await Task.WhenAll(submitted.Select(async h =>
            {
                var result = await executor.WaitAsync(h.Job).ConfigureAwait(false);
                // A trial cancelled before it started has no outcome: it simply stays pending.
                lock (started) if (!started.Contains(h.Job.Spec)) return;
                var outcome = Outcome(h.Trial, result);
                lock (outcomes) outcomes.Add(outcome);
                onEvent?.Invoke(new TrialEvent.Finished(outcome));
            })).ConfigureAwait(false);
        }
        return new RunSummary(plan.Expansion, plan.AlreadyComplete,
            outcomes.OrderBy(o => o.Trial.Leaf, StringComparer.Ordinal).ThenBy(o => o.Trial.Index).ToList());
    }

    /// <summary>
    /// Expands the tree and picks the trials to run: incomplete ones not running (nor <paramref name="inFlight"/>, such
    /// as queued on a cluster), and complete ones <paramref name="rerun"/> names.
    /// </summary>
    public static TrialPlan Plan(string root, TrialFilter filter, Func<TrialSpec, bool>? rerun = null, Func<TrialSpec, bool>? inFlight = null)
    {
        var expansion = TreeExpander.Expand(root, filter);
        var trials = expansion.Trials.ToList();
        var states = trials.ToDictionary(t => t, t => TrialState.Of(t.Dir));
        var flying = inFlight is null ? [] : trials.Where(t => states[t] is TrialStatus.Pending or TrialStatus.Failed && inFlight(t)).ToHashSet();
        var pending = trials.Where(t => states[t] switch
        {
            TrialStatus.Running => false,
            TrialStatus.Complete => rerun?.Invoke(t) == true,
            _ => !flying.Contains(t),
        }).ToList();
        var pendingSet = pending.ToHashSet();
        var complete = trials.Count(t => states[t] == TrialStatus.Complete && !pendingSet.Contains(t));
        return new TrialPlan(expansion, pending, complete, trials.Count - pending.Count - complete, pending.ToDictionary(t => t, t => states[t]));
    }

    /// <summary>
    /// Submits the plan's trials as one batch, after moving what an earlier attempt of each left to <c>attempts/&lt;n&gt;/</c>;
    /// returns each trial's job.
    /// </summary>
    public static IReadOnlyList<TrialJob> Submit(TrialPlan plan, IJobExecutor executor, Func<TrialSpec, JobSpec> job, Action<TrialJob>? started = null)
    {
        foreach (var trial in plan.Pending) TrialAttempts.Archive(trial.Dir, continuePrevious: plan.States[trial] != TrialStatus.Complete);
        var bySpec = new Dictionary<JobSpec, TrialSpec>(ReferenceEqualityComparer.Instance);
        var specs = plan.Pending.Select(t => { var spec = job(t); bySpec[spec] = t; return spec; }).ToList();
        var handles = executor.Submit(specs, started is null ? null : h => started(new TrialJob(bySpec[h.Spec], h)));
        return handles.Select(h => new TrialJob(bySpec[h.Spec], h)).ToList();
    }

    /// <summary>
    /// Mirrors the seed's <c>run_trials(datasets=…, modes=…)</c>: expands and runs the matching trials in this process.
    /// </summary>
    public static RunSummary RunTrials(string root = ".", IEnumerable<string>? datasets = null, IEnumerable<string>? modes = null, int? jobs = null)
    {
        var executor = TrialJobs.InProcessExecutor(root, jobs ?? Environment.ProcessorCount);
        try
        {
            return RunAsync(root, new TrialFilter(modes?.ToList(), datasets?.ToList()), executor, TrialJobs.InProcess).GetAwaiter().GetResult();
        }
        finally
        {
            executor.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>The trial's own record decides; a worker that died without writing one is recorded failed with its stderr's tail.</summary>
    public static TrialOutcome Outcome(TrialSpec trial, JobResult result)
    {
        var status = TrialState.Of(trial.Dir);
        string? error = null;
        if (status == TrialStatus.Failed) error = TrialState.Info(trial.Dir)?.Error;
        else if (result.State == JobState.Failed)
        {
            error = $"the worker {result.Error}";
            TrialFailure.Record(trial.Dir, error);
            status = TrialStatus.Failed;
        }
        return new TrialOutcome(trial, status, error, result.Duration);
    }
}
