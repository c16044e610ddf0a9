using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.Cli.Output;
using Kiln.Registry.Git;
using Kiln.Registry.Workspace;
using Kiln.Execution.Jobs;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln revert ID [--path P] [--in-place]</c>: a run's code back, beside the user's work or (on a clean tree) in it.</summary>
internal static class RevertCommand
{
    public static Command Build(Cli cli)
    {
        var id = new Argument<string>("id") { Description = "The run: its id, or the path of its run directory" };
        var path = new Option<string>("--path") { Description = "Where the new worktree goes (default <repo>/../<repo>-kiln-<id>); it must not exist or be empty" };
        var inPlace = new Option<bool>("--in-place") { Description = "Check the code out detached in this working tree instead; only when it is clean" };
        var json = Cli.JsonOption();
        var command = new Command("revert",
            "Put a run's code back, as its code snapshot has it: in a new git worktree (the default), or in place when the working tree is clean")
        {
            id, path, inPlace, json,
        };
        cli.Handle(command, c => Guard(() =>
        {
            if (c.Get(inPlace) && c.Get(path) is not null) throw new UsageException("revert: --path makes a new worktree; --in-place uses this one; give one of them");
            var start = Path.GetFullPath(c.Parse.GetValue(cli.Dir)!);
            var runs = RunSnapshots.For(start);
            var run = runs.Resolve(c.Get(id)!, start);
            var result = c.Get(inPlace)
                ? GitRevert.InPlace(runs.Root, run.Snapshot, WorkspacePaths.Find(start) is { } ws ? GitSnapshot.WorkspaceData(ws) : null)
                : GitRevert.ToWorktree(runs.Root, run.Snapshot, c.Get(path) is { } p ? Path.GetFullPath(p, start) : null);
            if (c.Get(json))
            {
                Json(new JsonObject
                {
                    ["run"] = run.RunId,
                    ["run_dir"] = run.RunDirectory,
                    ["snapshot"] = SnapshotFile.ToJson(run.Snapshot),
                    ["path"] = result.Path,
                    ["in_place"] = result.InPlace,
                    ["go_back"] = result.GoBack,
                });
                return 0;
            }
            var what = $"run {run.RunId}'s code (commit {Short(result.Commit)}{Origin(run.Snapshot)})";
            if (result.InPlace)
            {
                c.Out.Line($"checked out {what} in {result.Path}, detached");
                c.Out.Line($"  back with: {result.GoBack}");
            }
            else
            {
                c.Out.Line($"{what} is in {result.Path}");
                c.Out.Line($"  cd {ShellWord.Quote(result.Path)}");
                c.Out.Line($"  remove it with: {result.GoBack}");
            }
            return 0;
        }));
        return command;
    }

    /// <summary>Runs a snapshot command: a git failure or refusal is one error line and exit code 1.</summary>
    internal static int Guard(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (GitException ex)
        {
            Terminal.Error(ex.Message);
            return 1;
        }
    }

    /// <summary>Indented JSON that keeps patches and file names readable (no escaping of <c>+</c>, <c>&lt;</c> or non-ASCII letters).</summary>
    internal static void Json(JsonNode node) => Console.Out.WriteLine(node.ToJsonString(Readable));

    private static readonly JsonSerializerOptions Readable = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    internal static string Short(string commit) => commit.Length > 12 ? commit[..12] : commit;

    /// <summary>Where the snapshot was taken: ", from main with uncommitted changes", ", from a detached HEAD".</summary>
    internal static string Origin(Snapshot s) =>
        (s.Branch is null ? ", from a detached HEAD" : $", from {s.Branch}") + (s.Dirty ? " with uncommitted changes" : "");
}
