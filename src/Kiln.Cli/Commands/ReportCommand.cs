using System.CommandLine;
using Kiln.Protocol;
using Kiln.Registry.Reports;
using Kiln.Registry.Store;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln report ID</c>: <c>report-ID/</c> with the run's weights and an HTML page of it (docs/registry.md).</summary>
internal static class ReportCommand
{
    public static Command Build(Cli cli)
    {
        var id = new Argument<string>("id") { Description = "The run (its id in `kiln models`)" };
        var output = new Option<string?>("--out") { Description = "The folder to write (default: report-<ID> in the current folder)" };
        var untrialled = new Option<bool>("--untrialled") { Description = "Report a trained model that has no trial result yet" };
        var command = new Command("report", "Write report-<ID>/: the run's weights and an HTML page of its code, parameters, results, curves and changes") { id, output, untrialled };
        cli.Handle(command, c =>
        {
            var workspace = c.Workspace();
            var runId = c.Get(id)!;
            using var db = RegistryDb.Open(workspace);
            var record = db.Get(runId) ?? throw new ProtocolException($"{runId}: no such run in {workspace.Registry} (`kiln models` lists them; `kiln registry rebuild` indexes run folders)");
            if (record.Fingerprint is not null && record.TrialResult is null && !c.Get(untrialled))
                throw new ProtocolException($"{runId}: cannot report a model that was not trialled (`kiln trial --model {runId}` first, or --untrialled to report it anyway)");
            var dir = Path.GetFullPath(Path.Combine(workspace.Root, record.Dir));
            var result = RunReport.Write(dir, c.Get(output) ?? Path.Combine(Directory.GetCurrentDirectory(), $"report-{runId}"), runId);
            foreach (var problem in result.Problems) Output.Terminal.Warn(problem);
            c.Out.Line($"{result.Html}{(result.Weights is null ? " (no weights: the run saved none)" : $" and {result.Weights}")}");
            return 0;
        });
        return command;
    }
}
