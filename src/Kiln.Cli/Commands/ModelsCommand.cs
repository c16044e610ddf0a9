using System.CommandLine;
using Kiln.Cli.Output;
using Kiln.Protocol;
using Kiln.Registry.Indexing;
using Kiln.Registry.Models;
using Kiln.Registry.Records;
using Kiln.Registry.Store;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln models</c> (numb's <c>list</c>): the trained models of the workspace, grouped by architecture, groups and
/// models newest first, each with its hyper-parameters and trial result (docs/registry.md).
/// </summary>
internal static class ModelsCommand
{
    public static Command Build(Cli cli)
    {
        var architecture = new Option<string?>("--architecture") { Description = "Only this architecture (a prefix of its fingerprint)" };
        var trialled = new Option<bool>("--trialled") { Description = "Only models with a trial result" };
        var untrialled = new Option<bool>("--untrialled") { Description = "Only models not trialled yet" };
        var param = new Option<string[]>("--param")
        {
            Description = "Only models trained with this hyper-parameter value, compared as JSON (lr=1e-3 matches 0.001); repeat for more",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var kind = new Option<string[]>("--kind") { Description = "Only these kinds of run (train, queue, launch, …)", Arity = ArgumentArity.ZeroOrMore };
        var search = new Option<string?>("--search") { Description = "Only models whose id, folder, config, parameters or architecture contain this text" };
        var limit = new Option<int?>("--limit") { Description = "At most this many models (the newest)" };
        var json = Cli.JsonOption();
        var command = new Command("models", "List the trained models, grouped by architecture, newest first, with their hyper-parameters and trial results")
        {
            architecture, trialled, untrialled, param, kind, search, limit, json,
        };
        cli.Handle(command, c =>
        {
            if (c.Get(trialled) && c.Get(untrialled)) throw new UsageException("--trialled and --untrialled: give one or the other");
            if (c.Get(limit) is < 0) throw new UsageException("--limit: must be >= 0");
            var query = new ModelQuery
            {
                Architecture = c.Get(architecture),
                Trialled = c.Get(trialled) ? true : c.Get(untrialled) ? false : null,
                Params = Cli.Pairs(c.Get(param)),
                Kinds = c.Get(kind) ?? [],
                Text = c.Get(search),
                Limit = c.Get(limit),
            };
            var workspace = c.Workspace();
            using var db = RegistryDb.Open(workspace);
            RunIndexer.RefreshRunning(workspace, db);
            int count;
            if (c.Get(json))
            {
                // Thousands of models: the database writes each one's JSON, and the document is written as it goes.
                var rows = ModelGroup.From(db.QueryJson(query));
                c.Out.Json(w => ModelListing.WriteJson(w, workspace.Root, rows));
                count = rows.Sum(g => g.Count);
            }
            else
            {
                var groups = ModelGroup.From(db.Query(query));
                using (c.Out.Buffered()) Print(c.Out, groups);
                count = groups.Sum(g => g.Count);
            }
            if (count == 0)
            {
                var filtered = query.Architecture is not null || query.Trialled is not null || query.Params.Count > 0 || query.Kinds.Count > 0 || query.Text is not null;
                Terminal.Warn(filtered
                    ? "no model matches"
                    : "no trained models recorded yet (`kiln train` records them; `kiln registry rebuild` reads existing run folders)");
            }
            return 0;
        });
        return command;
    }

    private static void Print(Terminal t, IReadOnlyList<ModelGroup<RunRecord>> groups)
    {
        var first = true;
        foreach (var group in groups)
        {
            if (!first) t.Line();
            first = false;
            t.Line("architecture ", group.Fingerprint ?? "(none reported)", "cyan",
                $"  {group.Models.Count} model{(group.Models.Count == 1 ? "" : "s")}{(group.Newest is { } n ? ", newest " + Time(n) : "")}");
            if (group.Summary is { } summary)
                foreach (var line in summary.Split('\n')) t.Line("  " + line.TrimEnd('\r'));
            foreach (var model in group.Models)
            {
                t.Line();
                t.Line($"  {model.Id}  {model.Kind}  ", model.Status, StatusStyle(model.Status),
                    $"{(model.Start is { } s ? "  " + Time(s) : "")}  {model.Dir}{(model.Dirty == true ? "  (dirty tree, snapshot " + model.SnapshotRef + ")" : "")}");
                Table(t, "params", model.ParamsJson, "no parameters");
                Table(t, "trial result", model.TrialResultJson, "not trialled yet");
            }
        }
    }

    private static void Table(Terminal t, string title, string? json, string none)
    {
        var fields = CanonicalJson.Fields(json);
        if (fields.Count == 0)
        {
            t.Line($"    {title}: {none}");
            return;
        }
        t.Line($"    {title}:");
        // numb's headers: the keys in order (canonical JSON sorts them), '_' as a space, upper case.
        var headers = new string[fields.Count];
        var cells = new string[fields.Count];
        for (var i = 0; i < fields.Count; i++) (headers[i], cells[i]) = (fields[i].Key.Replace('_', ' ').ToUpperInvariant(), fields[i].Value);
        t.Table(headers, [cells], indent: "      ");
    }

    private static string Time(double unixSeconds) => DateTimeOffset.FromUnixTimeMilliseconds((long)(unixSeconds * 1000)).ToString("u", System.Globalization.CultureInfo.InvariantCulture);

    private static string StatusStyle(string status) => status switch
    {
        RunInfo.Failed => "red",
        RunInfo.Interrupted or RunInfo.Stopped => "yellow",
        _ => "green",
    };
}
