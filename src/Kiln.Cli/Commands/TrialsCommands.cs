using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.Cli.Output;
using Kiln.Execution.Local;
using Kiln.IO;
using Kiln.Metrics.Epochs;
using Kiln.Registry.Workspace;
using Kiln.Runs;
using Kiln.Protocol;
using Kiln.Trials;
using Kiln.Trials.Expansion;
using Kiln.Trials.Running;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln trials expand|run|status|cancel|epochs</c>: config-tree sweeps (docs/trials.md, docs/slurm.md). <c>--dir</c> is the project root.</summary>
internal static class TrialsCommands
{
    public static Command Build(Cli cli)
    {
        var trials = new Command("trials", "Expand a cfg/ tree into trials, run them, and compare them (--dir is the project root)");
        trials.Subcommands.Add(Expand(cli));
        trials.Subcommands.Add(Run(cli));
        trials.Subcommands.Add(Status(cli));
        var (mode, dataset) = Filters();
        trials.Subcommands.Add(TrialsOnSlurm.Cancel(cli, mode, dataset));
        trials.Subcommands.Add(Epochs(cli));
        trials.Subcommands.Add(Worker(cli));
        return trials;
    }

    private static (Option<string[]> Mode, Option<string[]> Dataset) Filters() =>
    (
        new Option<string[]>("--mode") { Description = "Only these modes (sweep, experiment)", AllowMultipleArgumentsPerToken = true },
        new Option<string[]>("--dataset") { Description = "Only these datasets", AllowMultipleArgumentsPerToken = true }
    );

    private static TrialFilter Filter(Context c, Option<string[]> mode, Option<string[]> dataset) => new(c.Get(mode), c.Get(dataset));

    private static string Root(Context c) => c.Run.Files.Dir;

    private static Command Expand(Cli cli)
    {
        var (mode, dataset) = Filters();
        var json = Cli.JsonOption();
        var command = new Command("expand", "Write every trial's resolved cfg.yaml under out/log/ (idempotent)") { mode, dataset, json };
        cli.Handle(command, c =>
        {
            var expanded = TreeExpander.Expand(Root(c), Filter(c, mode, dataset));
            var result = expanded with { Errors = [.. expanded.Errors, .. TrialChecks.Check(Root(c), expanded)] };
            if (c.Get(json)) c.Out.Json(ExpansionJson(result));
            else
            {
                foreach (var leaf in result.Leaves)
                {
                    var axes = leaf.Axes.Count == 0 ? "no sweep axes" : "axes " + string.Join(" × ", leaf.Axes.Select(a => $"{a}[{Count(leaf, a)}]"));
                    c.Out.Line($"{leaf.Leaf}: {leaf.Trials.Count} trial{(leaf.Trials.Count == 1 ? "" : "s")} ({axes}), {leaf.Written} written, {leaf.Trials.Count - leaf.Written} unchanged");
                    if (leaf.Surplus.Count > 0) Terminal.Warn($"{leaf.Leaf}: {leaf.Surplus.Count} trial folder(s) beyond the grid, kept: {string.Join(", ", leaf.Surplus)}");
                    foreach (var s in leaf.Stale) Terminal.Warn($"{s}: complete, but its configuration changed after it ran (`kiln trials run --rerun-stale` runs it again)");
                }
                foreach (var e in result.Errors) Terminal.Error(e);
            }
            return result.Errors.Count == 0 ? 0 : 1;
        });
        return command;
    }

    private static int Count(LeafExpansion leaf, string axis) => leaf.Trials.Select(t => t.Swept[axis]?.ToJsonString()).Distinct().Count();

    private static JsonObject ExpansionJson(ExpansionResult result) => new()
    {
        ["leaves"] = new JsonArray(result.Leaves.Select(l => (JsonNode?)new JsonObject
        {
            ["leaf"] = l.Leaf, ["trials"] = l.Trials.Count, ["written"] = l.Written,
            ["axes"] = new JsonArray(l.Axes.Select(a => (JsonNode?)a).ToArray()),
            ["surplus"] = new JsonArray(l.Surplus.Select(s => (JsonNode?)s).ToArray()),
            ["stale"] = new JsonArray(l.Stale.Select(s => (JsonNode?)s).ToArray()),
        }).ToArray()),
        ["errors"] = new JsonArray(result.Errors.Select(e => (JsonNode?)e).ToArray()),
    };

    private static Command Run(Cli cli)
    {
        var (mode, dataset) = Filters();
        var jobs = new Option<int>("--jobs") { Description = "Trials at a time (default: one per core)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var rerunStale = new Option<bool>("--rerun-stale") { Description = "Also run again, from scratch, complete trials whose configuration changed after they ran" };
        var force = new Option<string[]>("--force")
        {
            Description = "Also run again, from scratch, these complete trials (sweep/<dataset>/<model>/<trainer>/trial_###, or their folders)",
            AllowMultipleArgumentsPerToken = true,
        };
        var slurm = TrialsOnSlurm.Options();
        var command = new Command("run", "Expand, then run every incomplete trial in a local process pool, or submit them to Slurm (--executor slurm); a re-run resumes")
            { mode, dataset, jobs, rerunStale, force };
        foreach (var option in slurm.All) command.Options.Add(option);
        cli.Handle(command, c =>
        {
            var n = c.Get(jobs);
            if (n < 1) throw new UsageException("--jobs: must be >= 1");
            var root = Root(c);
            if (!Directory.Exists(Path.Combine(root, TrialPaths.ConfigRoot))) throw new ProtocolException($"{root}: no cfg/ tree here");
            var forced = ForcedTrials(c, root, c.Get(force) ?? []);
            var stale = c.Get(rerunStale);
            bool Rerun(TrialSpec t) => forced.Contains(Path.GetFullPath(t.Dir))
                || (stale && TrialState.IsStale(t.Dir, TreeExpander.Hash(TreeExpander.Render(t))));
            if (TrialsOnSlurm.ExecutorKind(c, slurm, root) == WorkspaceConfig.SlurmExecutor)
                return TrialsOnSlurm.Run(c, slurm, root, Filter(c, mode, dataset), Rerun);
            if (c.Get(slurm.Wait)) throw new UsageException("--wait: only with --executor slurm (a local run always follows its trials)");
            var stop = StopSignals.Install();
            // The pool follows the signals too: its workers are asked to stop, and killed before a forced exit.
            var pool = new LocalProcessPool(new LocalPoolOptions { Parallelism = n });
            try
            {
                var threads = TrialJobs.ThreadsPerTrial(n);
                var summary = TrialRunner.RunAsync(root, Filter(c, mode, dataset), pool,
                        t => TrialJobs.Worker(Environment.ProcessPath!, root, t, threads), e => Report(c.Out, root, e), stop.Token, Rerun)
                    .GetAwaiter().GetResult();
                RegistryHook.Record(summary.Outcomes.Select(o => o.Trial.Dir));
                foreach (var e in summary.Expansion.Errors) Terminal.Error(e);
                c.Out.Line($"{summary.Completed} completed, {summary.Failed} failed, {summary.Stopped} stopped, {summary.AlreadyComplete} already complete");
                return stop.StopRequested ? stop.ExitCode : summary.Succeeded ? 0 : 1;
            }
            finally
            {
                pool.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        });
        return command;
    }

    /// <summary>The folders of the trials <c>--force</c> names; a name that matches no trial is a usage error.</summary>
    private static HashSet<string> ForcedTrials(Context c, string root, string[] names)
    {
        var forced = new HashSet<string>(StringComparer.Ordinal);
        if (names.Length == 0) return forced;
        var trials = TreeExpander.Expand(root, TrialFilter.All, write: false).Trials.ToList();
        foreach (var name in names)
        {
            var full = Path.GetFullPath(name);
            var match = trials.FirstOrDefault(t => t.Name == name.Trim('/') || Path.GetFullPath(t.Dir) == full);
            if (match is null) throw new UsageException($"--force {name}: no such trial (names look like {trials.FirstOrDefault()?.Name ?? "sweep/<dataset>/<model>/<trainer>/trial_000"})");
            forced.Add(Path.GetFullPath(match.Dir));
        }
        return forced;
    }

    internal static void Report(Terminal t, string root, TrialEvent e)
    {
        switch (e)
        {
            case TrialEvent.Planned p:
                t.Line($"{p.Pending} trial{(p.Pending == 1 ? "" : "s")} to run, {p.Complete} already complete");
                break;
            case TrialEvent.Finished { Outcome: var o }:
                var style = o.Status == TrialStatus.Complete ? "green" : o.Status == TrialStatus.Failed ? "red" : "yellow";
                var metrics = TrialState.Info(o.Trial.Dir)?.Metrics;
                var shown = metrics is null ? "" : "  " + string.Join("  ", new[] { "val_loss", "val_accuracy" }
                    .Where(k => Shown(metrics, k) is not null).Select(k => $"{k}={(double)Shown(metrics, k)!:G4}"));
                t.Line($"{o.Trial.Name} ", Word(o.Status), style, $" in {o.Duration.TotalSeconds:0.#} s{shown}{(o.Error is null ? "" : ": " + o.Error)}");
                break;
        }
    }

    private static string Word(TrialStatus s) => s switch
    {
        TrialStatus.Complete => "complete",
        TrialStatus.Failed => "failed",
        TrialStatus.Running => "running",
        _ => "stopped",
    };

    private static Command Status(Cli cli)
    {
        var (mode, dataset) = Filters();
        var json = Cli.JsonOption();
        var command = new Command("status", "A table of the trials: state, swept values, final metrics") { mode, dataset, json };
        cli.Handle(command, c =>
        {
            var result = TreeExpander.Expand(Root(c), Filter(c, mode, dataset), write: false);
            // Trials submitted to Slurm: each one's task as Slurm sees it, beside Kiln's own record (one Slurm call).
            var cluster = TrialsOnSlurm.Latest(Root(c), out var problems);
            foreach (var p in problems) Terminal.Warn(p);
            var rows = new List<JsonObject>();
            var slurmShown = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var trial in result.Trials)
            {
                var status = TrialState.Of(trial.Dir);
                var stale = status == TrialStatus.Complete && TrialState.IsStale(trial.Dir, TreeExpander.Hash(TreeExpander.Render(trial)));
                var info = TrialState.Info(trial.Dir);
                rows.Add(new JsonObject
                {
                    ["trial"] = trial.Name,
                    ["status"] = stale ? "stale" : Word(status).Replace("stopped", "pending", StringComparison.Ordinal),
                    ["swept"] = trial.Swept.DeepClone(),
                    ["metrics"] = info?.Metrics?.DeepClone(),
                    ["error"] = info?.Error,
                });
                if (cluster.TryGetValue(Path.GetFullPath(trial.Dir), out var task))
                {
                    rows[^1]["slurm"] = TrialsOnSlurm.Json(task);
                    slurmShown[trial.Name] = TrialsOnSlurm.Shown(task);
                }
            }
            if (c.Get(json))
            {
                c.Out.Json(new JsonObject { ["trials"] = new JsonArray(rows.Select(r => (JsonNode?)r).ToArray()), ["errors"] = new JsonArray(result.Errors.Select(e => (JsonNode?)e).ToArray()) });
            }
            else
            {
                var slurmColumn = slurmShown.Count > 0;
                c.Out.Table(["trial", "status", .. slurmColumn ? new[] { "slurm" } : [], "swept", "val_loss", "val_accuracy"], rows.Select(r => (IReadOnlyList<string>)
                [
                    (string)r["trial"]!, (string)r["status"]!,
                    .. slurmColumn ? new[] { slurmShown.GetValueOrDefault((string)r["trial"]!, "") } : [],
                    string.Join(" ", r["swept"]!.AsObject().Select(kv => $"{kv.Key}={YamlWriter.Flow(kv.Value)}")),
                    Metric(r, "val_loss"), Metric(r, "val_accuracy"),
                ]).ToList());
                var counts = rows.GroupBy(r => (string)r["status"]!).Select(g => $"{g.Count()} {g.Key}");
                c.Out.Line($"{rows.Count} trials: {string.Join(", ", counts)}");
                foreach (var e in result.Errors) Terminal.Error(e);
            }
            return result.Errors.Count == 0 ? 0 : 1;
        });
        return command;
    }

    private static string Metric(JsonObject row, string name) =>
        row["metrics"] is JsonObject m && Shown(m, name) is { } v ? ((double)v).ToString("G4", CultureInfo.InvariantCulture) : "";

    /// <summary>
    /// A key metric of a trial: as the built-in trainer names it, or as derived from a command's batch log
    /// (<c>val_acc</c> for <c>val_accuracy</c>).
    /// </summary>
    private static JsonNode? Shown(JsonObject metrics, string name) =>
        metrics[name] ?? (name.EndsWith("_accuracy", StringComparison.Ordinal) ? metrics[name[..^"uracy".Length]] : null);

    private static Command Epochs(Cli cli)
    {
        var dir = new Argument<string>("trial") { Description = "A trial directory (out/log/…/trial_###)" };
        var json = Cli.JsonOption();
        var command = new Command("epochs", "Write (or refresh) a trial's epoch_log.csv from its batch_log.csv and show it") { dir, json };
        cli.Handle(command, c => EpochsAction(c, c.Get(dir)!, c.Get(json)));
        return command;
    }

    private static Command Worker(Cli cli)
    {
        var dir = new Argument<string>("trial") { Description = "The trial directory" };
        var command = new Command("worker", "Run one trial (used by `kiln trials run`)") { dir };
        command.Hidden = true;
        cli.Handle(command, c =>
        {
            var stop = StopSignals.Install();
            var result = TrialWorker.Run(Root(c), c.Get(dir)!, LaunchCommand.KernelDefaults(), Console.Error.WriteLine, cancel: stop.Token);
            if (result.Error is not null) Terminal.Error(result.Error);
            return LaunchCommand.ExitCode(result.Status);
        });
        return command;
    }

    private static int EpochsAction(Context c, string trialDir, bool json)
    {
        var table = EpochLog.Ensure(Path.GetFullPath(trialDir));
        if (table.TornTail) Terminal.Warn($"{Path.Combine(trialDir, TrialPaths.BatchLog)}: the last line has no newline (a torn write); it was left out");
        if (json)
        {
            c.Out.Json(new JsonObject
            {
                ["columns"] = new JsonArray(new[] { "epoch", "mode" }.Concat(table.Columns).Append("n_batches").Select(x => (JsonNode?)x).ToArray()),
                ["rows"] = new JsonArray(table.Rows.Select(r =>
                {
                    var o = new JsonObject { ["epoch"] = r.Epoch, ["mode"] = r.Mode };
                    for (var i = 0; i < r.Values.Length; i++) o[table.Columns[i]] = r.Values[i];
                    o["n_batches"] = r.Batches;
                    return (JsonNode?)o;
                }).ToArray()),
            });
            return 0;
        }
        c.Out.Table(["epoch", "mode", .. table.Columns, "n_batches"], table.Rows.Select(r => (IReadOnlyList<string>)
        [
            r.Epoch.ToString(CultureInfo.InvariantCulture), r.Mode,
            .. r.Values.Select(v => v is { } d ? d.ToString("G5", CultureInfo.InvariantCulture) : ""),
            r.Batches.ToString(CultureInfo.InvariantCulture),
        ]).ToList());
        return 0;
    }
}
