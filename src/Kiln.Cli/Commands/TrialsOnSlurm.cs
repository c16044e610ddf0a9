using System.CommandLine;
using System.Text.Json.Nodes;
using Kiln.Cli.Output;
using Kiln.Execution.Slurm;
using Kiln.Registry.Workspace;
using Kiln.Runs;
using Kiln.Trials;
using Kiln.Trials.Expansion;
using Kiln.Trials.Running;

namespace Kiln.Cli.Commands;

/// <summary>
/// The Slurm side of <c>kiln trials</c>: <c>run --executor slurm</c> submits and returns (or follows with <c>--wait</c>),
/// <c>status</c> shows each trial's Slurm state beside Kiln's, <c>cancel</c> runs <c>scancel</c> (docs/slurm.md).
/// Everything goes through the submissions recorded under <c>.kiln/jobs/</c>, so any shell reattaches at any time.
/// </summary>
internal static class TrialsOnSlurm
{
    internal sealed record Flags(
        Option<string> Executor, Option<bool> Wait, Option<string> Partition, Option<string> Account, Option<string> Time,
        Option<int?> Cpus, Option<long?> Memory, Option<int?> Throttle, Option<string[]> SbatchArgs)
    {
        public IEnumerable<Option> All => [Executor, Wait, Partition, Account, Time, Cpus, Memory, Throttle, SbatchArgs];
    }

    public static Flags Options() => new(
        new Option<string>("--executor") { Description = "Where trials run: local (a process pool here) or slurm (job arrays); default: kiln.json's executor, else local" },
        new Option<bool>("--wait") { Description = "slurm: follow the trials to their end instead of returning once they are submitted" },
        new Option<string>("--partition") { Description = "slurm: the partition (sbatch --partition)" },
        new Option<string>("--account") { Description = "slurm: the account (sbatch --account)" },
        new Option<string>("--time") { Description = "slurm: each trial's time limit (sbatch --time: 90, 1:30:00, 2-00:00:00)" },
        new Option<int?>("--cpus-per-task") { Description = "slurm: CPUs per trial (default 1)" },
        new Option<long?>("--mem") { Description = "slurm: memory per trial, in MiB" },
        new Option<int?>("--throttle") { Description = "slurm: trials of one array running at once (--array=0-N%T)" },
        new Option<string[]>("--sbatch-arg") { Description = "slurm: a further sbatch argument (--sbatch-arg=--qos=high), repeatable", AllowMultipleArgumentsPerToken = false });

    /// <summary>The workspace's kiln.json, when the trials root is in one.</summary>
    private static WorkspaceConfig? Config(string root) =>
        WorkspacePaths.Find(root) is { } ws && File.Exists(ws.Config) ? WorkspaceConfig.Read(ws.Config) : null;

    /// <summary><c>.kiln/jobs/</c> of the workspace holding the root (or of the root itself).</summary>
    public static string JobsDir(string root) => (WorkspacePaths.Find(root) ?? new WorkspacePaths(root)).Jobs;

    /// <summary>The executor asked for: the flag, else kiln.json's, else local.</summary>
    public static string ExecutorKind(Context c, Flags f, string root)
    {
        var kind = c.Get(f.Executor) ?? Config(root)?.Executor ?? WorkspaceConfig.LocalExecutor;
        if (!WorkspaceConfig.Executors.Contains(kind)) throw new UsageException($"--executor: unknown executor '{kind}' (known: {string.Join(", ", WorkspaceConfig.Executors)})");
        return kind;
    }

    /// <summary>kiln.json's <c>executor</c> settings with the flags given on top.</summary>
    public static SlurmOptions Settings(Context c, Flags f, string root)
    {
        var o = Config(root)?.Slurm ?? new SlurmOptions();
        if (c.Get(f.Cpus) is < 1) throw new UsageException("--cpus-per-task: must be >= 1");
        if (c.Get(f.Memory) is < 1) throw new UsageException("--mem: must be >= 1 (MiB)");
        if (c.Get(f.Throttle) is < 1) throw new UsageException("--throttle: must be >= 1");
        return o with
        {
            Partition = c.Get(f.Partition) ?? o.Partition,
            Account = c.Get(f.Account) ?? o.Account,
            Time = c.Get(f.Time) ?? o.Time,
            CpusPerTask = c.Get(f.Cpus) ?? o.CpusPerTask,
            MemoryMb = c.Get(f.Memory) ?? o.MemoryMb,
            Throttle = c.Get(f.Throttle) ?? o.Throttle,
            SbatchArgs = [.. o.SbatchArgs, .. c.Get(f.SbatchArgs) ?? []],
        };
    }

    /// <summary>
    /// Submits every incomplete trial that is not already queued or running on the cluster as one job array, records
    /// the submission, prints the ids and returns — or, with <c>--wait</c>, follows the trials to their end (a stop
    /// signal then stops the following, not the trials).
    /// </summary>
    public static int Run(Context c, Flags f, string root, TrialFilter filter, Func<TrialSpec, bool> rerun)
    {
        var options = Settings(c, f, root);
        var jobsDir = JobsDir(root);
        var live = Latest(root, out var problems);
        foreach (var p in problems) Terminal.Warn(p);
        var inFlight = live.Where(kv => kv.Value.State is { Ended: false }).Select(kv => kv.Key).ToHashSet(StringComparer.Ordinal);
        var plan = TrialRunner.Plan(root, filter, rerun, t => inFlight.Contains(Path.GetFullPath(t.Dir)));
        foreach (var e in plan.Expansion.Errors) Terminal.Error(e);
        c.Out.Line($"{plan.Pending.Count} trial{(plan.Pending.Count == 1 ? "" : "s")} to submit, {plan.AlreadyComplete} already complete{(plan.Busy > 0 ? $", {plan.Busy} queued or running already" : "")}");
        if (plan.Pending.Count == 0) return plan.Expansion.Errors.Count == 0 ? 0 : 1;

        var stop = StopSignals.Install();
        var slurm = new SlurmExecutor(options, jobsDir) { MaxPoll = TimeSpan.FromSeconds(5) };
        try
        {
            var kiln = Environment.ProcessPath!;
            var submitted = TrialRunner.Submit(plan, slurm, t => TrialJobs.Worker(kiln, root, t, options.CpusPerTask ?? 1));
            var submission = slurm.Submissions[^1];
            var arrays = string.Join(", ", submission.Arrays.Select(a => a.JobId));
            c.Out.Line($"submitted {submitted.Count} trial{(submitted.Count == 1 ? "" : "s")} as Slurm job array{(submission.Arrays.Count == 1 ? "" : "s")} {arrays}; record: {Path.GetRelativePath(root, submission.Folder)}");
            if (submitted.Count <= 50) foreach (var j in submitted) c.Out.Line($"  {j.Job.Id}  {j.Trial.Name}");
            if (!c.Get(f.Wait))
            {
                c.Out.Line("`kiln trials status` shows where they stand, `kiln trials cancel` stops them");
                return plan.Expansion.Errors.Count == 0 ? 0 : 1;
            }
            var outcomes = new List<TrialOutcome>();
            try
            {
                Task.WhenAll(submitted.Select(async j =>
                {
                    var result = await slurm.WaitAsync(j.Job, stop.Token).ConfigureAwait(false);
                    var outcome = TrialRunner.Outcome(j.Trial, result);
                    lock (outcomes) outcomes.Add(outcome);
                    TrialsCommands.Report(c.Out, root, new TrialEvent.Finished(outcome));
                })).GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                c.Out.Line("stopped following; the trials go on on the cluster (`kiln trials status`, `kiln trials cancel`)");
                return stop.ExitCode;
            }
            RegistryHook.Record(outcomes.Select(o => o.Trial.Dir));
            var done = outcomes.Count(o => o.Status == TrialStatus.Complete);
            var failed = outcomes.Count(o => o.Status == TrialStatus.Failed);
            c.Out.Line($"{done} completed, {failed} failed, {outcomes.Count - done - failed} stopped, {plan.AlreadyComplete} already complete");
            return done == outcomes.Count && plan.Expansion.Errors.Count == 0 ? 0 : 1;
        }
        finally
        {
            slurm.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>
    /// For each trial directory a submission names, its latest Slurm task and that task's state (null when Slurm could
    /// not be asked: the reason is in <paramref name="problems"/>). One Slurm call for all of them.
    /// </summary>
    public static Dictionary<string, (string Id, SlurmTaskState? State)> Latest(string root, out List<string> problems)
    {
        problems = [];
        var latest = SlurmSubmission.Latest(SlurmSubmission.ReadAll(JobsDir(root), problems));
        var result = new Dictionary<string, (string, SlurmTaskState?)>(StringComparer.Ordinal);
        if (latest.Count == 0) return result;
        IReadOnlyDictionary<string, SlurmTaskState>? states = null;
        try
        {
            states = new SlurmStatusReader().Read(latest.Values.Select(v => SlurmStatusReader.ArrayOf(v.SlurmId)).Distinct(StringComparer.Ordinal).ToList());
        }
        catch (SlurmException ex)
        {
            problems.Add($"cannot ask Slurm where the trials stand: {ex.Message}");
        }
        foreach (var (dir, (_, id)) in latest)
            result[dir] = (id, states is null ? null : states.GetValueOrDefault(id) ?? SlurmTaskState.Unknown);
        return result;
    }

    /// <summary>The Slurm column of <c>kiln trials status</c>: <c>12_3 RUNNING</c>.</summary>
    public static string Shown((string Id, SlurmTaskState? State) task) => $"{task.Id} {task.State?.Shown ?? "?"}";

    public static JsonObject Json((string Id, SlurmTaskState? State) task) => SlurmTaskState.Json(task.Id, task.State);

    /// <summary><c>kiln trials cancel</c>: one <c>scancel</c> for the queued and running Slurm tasks of the matching trials.</summary>
    public static Command Cancel(Cli cli, Option<string[]> mode, Option<string[]> dataset)
    {
        var json = Cli.JsonOption();
        var command = new Command("cancel", "Cancel the trials' queued and running Slurm tasks (scancel); a trial stopped this way stays incomplete and a later run resumes it")
            { mode, dataset, json };
        cli.Handle(command, c =>
        {
            var root = c.Run.Files.Dir;
            var trials = TreeExpander.Expand(root, new TrialFilter(c.Get(mode), c.Get(dataset)), write: false).Trials.ToList();
            var latest = Latest(root, out var problems);
            foreach (var p in problems) Terminal.Warn(p);
            var targets = trials
                .Select(t => (Trial: t, Found: latest.TryGetValue(Path.GetFullPath(t.Dir), out var task), Task: task))
                .Where(x => x.Found && x.Task.State is { Ended: false })
                .ToList();
            if (targets.Count > 0) SlurmCli.Check("scancel", targets.Select(x => x.Task.Id).ToList());
            if (c.Get(json))
            {
                c.Out.Json(new JsonObject
                {
                    ["cancelled"] = new JsonArray(targets.Select(x => (JsonNode?)new JsonObject { ["trial"] = x.Trial.Name, ["id"] = x.Task.Id }).ToArray()),
                });
            }
            else if (targets.Count == 0) c.Out.Line("no queued or running Slurm task among these trials");
            else
            {
                foreach (var x in targets) c.Out.Line($"  {x.Task.Id}  {x.Trial.Name} (was {x.Task.State!.Shown})");
                c.Out.Line($"cancelled {targets.Count} Slurm task{(targets.Count == 1 ? "" : "s")}");
            }
            return problems.Any(p => p.StartsWith("cannot ask Slurm", StringComparison.Ordinal)) ? 1 : 0;
        });
        return command;
    }
}
