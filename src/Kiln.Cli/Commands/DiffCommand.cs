using System.CommandLine;
using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Registry.Git;
using Kiln.Registry.Workspace;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln diff ID [ID2] [--stat] [--json]</c>: what changed in code (and in params) between two runs, or since a run.</summary>
internal static class DiffCommand
{
    public static Command Build(Cli cli)
    {
        var from = new Argument<string>("id") { Description = "The run compared from: its id, or the path of its run directory" };
        var to = new Argument<string?>("id2") { Description = "The run compared to (default: the working tree as it is now)", Arity = ArgumentArity.ZeroOrOne };
        var stat = new Option<bool>("--stat") { Description = "Only the summary of changed files, not the patch" };
        var json = Cli.JsonOption();
        var command = new Command("diff",
            "What changed in code between two runs' snapshots, or between a run's snapshot and the working tree; and in params, when both runs recorded them")
        {
            from, to, stat, json,
        };
        cli.Handle(command, c => RevertCommand.Guard(() =>
        {
            var start = Path.GetFullPath(c.Parse.GetValue(cli.Dir)!);
            var runs = RunSnapshots.For(start);
            var a = runs.Resolve(c.Get(from)!, start);
            var b = c.Get(to) is { } second ? runs.Resolve(second, start) : null;
            // The working tree is compared as a snapshot sees it: without the workspace's runs and caches.
            var exclude = WorkspacePaths.Find(start) is { } ws ? GitSnapshot.WorkspaceData(ws) : [];
            var code = b is null ? GitDiff.AgainstWorkingTree(runs.Root, a.Snapshot, exclude) : GitDiff.Between(runs.Root, a.Snapshot, b.Snapshot);
            var pa = b is null ? null : ParamsDiff.Read(a.RunDirectory);
            var pb = b is null ? null : ParamsDiff.Read(b.RunDirectory);
            var paramsDiff = pa is not null && pb is not null ? ParamsDiff.Compare(pa, pb) : null;

            if (c.Get(json))
            {
                var o = new JsonObject
                {
                    ["from"] = Side(a),
                    ["to"] = b is null ? new JsonObject { ["working_tree"] = true, ["tree"] = code.To } : Side(b),
                    ["files"] = new JsonArray(code.Files.Select(f => (JsonNode)new JsonObject { ["path"] = f.Path, ["added"] = f.Added, ["deleted"] = f.Deleted }).ToArray()),
                    ["stat"] = code.Stat,
                };
                if (!c.Get(stat)) o["patch"] = code.Patch;
                o["params"] = paramsDiff?.ToJson();
                RevertCommand.Json(o);
                return 0;
            }

            var target = b is null ? "the working tree" : $"run {b.RunId} ({RevertCommand.Short(b.Snapshot.Commit)})";
            c.Out.Line($"code: run {a.RunId} ({RevertCommand.Short(a.Snapshot.Commit)}) -> {target}");
            if (code.IsEmpty) c.Out.Line("  no changes");
            else Console.Out.Write(code.Stat);
            if (paramsDiff is not null)
            {
                c.Out.Line($"params: run {a.RunId} -> run {b!.RunId}");
                if (paramsDiff.IsEmpty) c.Out.Line("  the same");
                foreach (var p in paramsDiff.Added) c.Out.Line($"  + {p.Key} = {JsonValues.Show(p.To)}");
                foreach (var p in paramsDiff.Removed) c.Out.Line($"  - {p.Key} = {JsonValues.Show(p.From)}");
                foreach (var p in paramsDiff.Changed) c.Out.Line($"  ~ {p.Key}: {JsonValues.Show(p.From)} -> {JsonValues.Show(p.To)}");
            }
            if (!c.Get(stat) && !code.IsEmpty)
            {
                c.Out.Line();
                Console.Out.Write(code.Patch);
            }
            return 0;
        }));
        return command;
    }

    private static JsonObject Side(RunSnapshot run) => new()
    {
        ["run"] = run.RunId,
        ["run_dir"] = run.RunDirectory,
        ["commit"] = run.Snapshot.Commit,
    };
}
