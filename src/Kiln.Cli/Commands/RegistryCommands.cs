using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.Cli.Output;
using Kiln.Registry.Indexing;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln registry rebuild</c>: recreate .kiln/registry.db from the run folders (docs/registry.md).</summary>
internal static class RegistryCommands
{
    public static Command Build(Cli cli)
    {
        var registry = new Command("registry", "The workspace's registry of runs (.kiln/registry.db)");
        var json = Cli.JsonOption();
        var rebuild = new Command("rebuild", "Recreate the registry from the run folders (a damaged one is set aside, not deleted)") { json };
        cli.Handle(rebuild, c =>
        {
            var workspace = c.Workspace();
            var report = RegistryRebuild.Run(workspace);
            if (c.Get(json))
            {
                c.Out.Json(new JsonObject
                {
                    ["registry"] = workspace.Registry, ["runs"] = report.Runs, ["models"] = report.Models, ["trialled"] = report.Trialled, ["experiment_runs"] = report.ExperimentRuns,
                    ["set_aside"] = report.SetAside, ["seconds"] = Math.Round(report.Elapsed.TotalSeconds, 3),
                    ["problems"] = new JsonArray([.. report.Problems.Select(p => (JsonNode)p)]),
                });
                return 0;
            }
            if (report.SetAside is { } aside) Terminal.Warn($"the registry was damaged: set aside as {Path.GetRelativePath(workspace.Root, aside)}");
            foreach (var p in report.Problems) Terminal.Warn(p);
            c.Out.Line(string.Create(CultureInfo.InvariantCulture,
                $"rebuilt {Path.GetRelativePath(workspace.Root, workspace.Registry)} from the run folders: {report.Runs} run{(report.Runs == 1 ? "" : "s")}, " +
                $"{report.Models} model{(report.Models == 1 ? "" : "s")} ({report.Trialled} trialled), {report.ExperimentRuns} experiment run{(report.ExperimentRuns == 1 ? "" : "s")} in {report.Elapsed.TotalSeconds:0.##} s"));
            return 0;
        });
        registry.Subcommands.Add(rebuild);
        return registry;
    }
}
