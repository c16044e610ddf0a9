using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Modules.Tune;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln --dir RUN tune enable [--mode M] | disable | set k=v … | status | export-recipe [--out F]</c> (seed 000's
/// verbs): the first three are commands to the run's <c>tune</c> module through the inbox; the last two read the ledger.
/// </summary>
internal static class TuneCommands
{
    public static Command Build(Cli cli)
    {
        var root = new Command("tune", "Online tuning of the run (--dir): mutations of lr, weight decay or loss weights, kept or rolled back by their segment's score");
        var mode = new Option<string>("--mode")
        {
            Description = "active (mutate and judge), observe (judge the segment under way, start none), suggest (ledger proposals only), replay (only a recipe's)",
            DefaultValueFactory = _ => TuneSettings.Active,
        };
        mode.AcceptOnlyFromAmong(TuneSettings.Active, TuneSettings.Observe, TuneSettings.Suggest, TuneSettings.Replay);
        var enable = new Command("enable", "Turn tuning on") { mode };
        cli.Steer(enable, c => new KilnCommand { Module = TuneModule.ModuleName, Op = "enable", Params = new JsonObject { ["mode"] = c.Get(mode) } });
        var disable = new Command("disable", "Turn tuning off (a segment under way keeps its change)");
        cli.Steer(disable, _ => new KilnCommand { Module = TuneModule.ModuleName, Op = "disable" });
        var pairs = Cli.PairsArgument();
        var set = new Command("set", "Change settings by dotted path: " + string.Join(", ", TuneSettings.Paths)) { pairs };
        cli.Steer(set, c => new KilnCommand { Module = TuneModule.ModuleName, Op = "set_params", Params = Cli.Pairs(c.Get(pairs)) });
        root.Subcommands.Add(enable);
        root.Subcommands.Add(disable);
        root.Subcommands.Add(set);
        root.Subcommands.Add(Status(cli));
        root.Subcommands.Add(Export(cli));
        return root;
    }

    private static Command Status(Cli cli)
    {
        var json = Cli.JsonOption();
        var command = new Command("status", "Mode, mutations, accept rate and the last segments") { json };
        cli.Handle(command, c =>
        {
            var history = TuneHistory.Read(c.Run.Files);
            if (c.Get(json))
            {
                var o = history.ToJson();
                o["mode"] = history.Mode;
                c.Out.Json(o);
                return 0;
            }
            if (history.State is null && history.Segments.Count == 0)
            {
                c.Out.Line("tune has not been used in this run (`kiln tune enable` turns it on)");
                return 0;
            }
            var rate = history.AcceptRate is { } r ? r.ToString("P0", CultureInfo.InvariantCulture) : "—";
            c.Out.Line($"mode {history.Mode}: {history.Segments.Count} mutations, {history.Accepted} accepted, {history.RolledBack} rolled back (accept rate {rate})" +
                (history.Suggested > 0 ? $", {history.Suggested} suggested" : ""));
            if (history.Segments.Count == 0) return 0;
            c.Out.Table(["SEGMENT", "STEP", "KEY", "FACTOR", "PRE", "POST", "DECISION"],
                [.. history.Segments.TakeLast(10).Select(s => (IReadOnlyList<string>)[
                    s.Segment.ToString(CultureInfo.InvariantCulture), s.Step.ToString(CultureInfo.InvariantCulture), s.Key,
                    "×" + s.Factor.ToString("0.###", CultureInfo.InvariantCulture), Num(s.Pre), Num(s.Post), s.Decision ?? "under way"])]);
            return 0;
        });
        return command;
    }

    private static Command Export(Cli cli)
    {
        var output = new Option<string?>("--out") { Description = "Where to write the summary (JSON); standard output when not given" };
        var command = new Command("export-recipe", "The tuning summary: settings, counts, accepted factors per dial and every segment") { output };
        cli.Handle(command, c =>
        {
            var summary = TuneHistory.Read(c.Run.Files).ToJson();
            if (c.Get(output) is not { } path)
            {
                c.Out.Json(summary);
                return 0;
            }
            AtomicFile.WriteJson(Path.GetFullPath(path), summary);
            c.Out.Line($"wrote {path}: {summary["mutations"]} mutations, {summary["accepted"]} accepted");
            return 0;
        });
        return command;
    }

    private static string Num(double? d) => d is { } v ? v.ToString("0.####", CultureInfo.InvariantCulture) : "—";
}
