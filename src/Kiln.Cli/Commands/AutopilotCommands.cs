using System.CommandLine;
using System.Text.Json.Nodes;
using Kiln.Autopilot.Engine;
using Kiln.Cli.Output;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln --dir RUN autopilot [list|accept ID|reject ID]</c>: the autopilot's proposals for a run, and a person's
/// answer to the ones waiting — what the dashboard's autopilot panel does, for a terminal or a script.
/// </summary>
internal static class AutopilotCommands
{
    public static Command Build(Cli cli)
    {
        var command = new Command("autopilot", "The autopilot's proposals for the run (--dir), and accepting or rejecting those waiting");
        var json = Cli.JsonOption();
        var waiting = new Option<bool>("--waiting") { Description = "Only the suggestions waiting for an answer" };
        var list = new Command("list", "Every proposal: its rule, step, action, status and why") { json, waiting };
        cli.Handle(list, c =>
        {
            var proposals = new AutopilotLog(c.Run.Files.Dir).Read().Where(p => !c.Get(waiting) || p.Status == ProposalStatus.Suggested).ToList();
            if (c.Get(json))
            {
                c.Out.Json(new JsonArray([.. proposals.Select(p => (JsonNode)p.ToJson())]));
                return 0;
            }
            if (proposals.Count == 0)
            {
                c.Out.Line("no proposals (the autopilot follows a run started with --autopilot suggest or auto)");
                return 0;
            }
            c.Out.Table(["ID", "STEP", "RULE", "ACTION", "STATUS", "WHY"],
                [.. proposals.Select(p => (IReadOnlyList<string>)[p.Id, p.Step.ToString(System.Globalization.CultureInfo.InvariantCulture), p.Rule, p.Action.ToString(), p.Status + (p.Note is null ? "" : $" ({p.Note})"), p.Rationale])]);
            return 0;
        });
        command.Subcommands.Add(list);
        command.Subcommands.Add(Decide(cli, "accept", "Send a waiting suggestion's action to the run now", accept: true));
        command.Subcommands.Add(Decide(cli, "reject", "Turn a waiting suggestion down: nothing is sent", accept: false));
        return command;
    }

    private static Command Decide(Cli cli, string name, string description, bool accept)
    {
        var id = new Argument<string>("id") { Description = "The proposal's id (kiln autopilot list)" };
        var command = new Command(name, description) { id };
        cli.Handle(command, c =>
        {
            var decided = accept
                ? AutopilotSession.Accept(c.Run.Files.Dir, c.Get(id)!, "cli")
                : AutopilotSession.Reject(c.Run.Files.Dir, c.Get(id)!, "cli");
            c.Out.Line($"{decided.Action}: ", decided.Status, decided.Status == ProposalStatus.Skipped ? "yellow" : "green",
                decided.Cid is null ? (decided.Note is null ? "" : $" ({decided.Note})") : $" (command {decided.Cid})");
            return decided.Status == ProposalStatus.Skipped ? 1 : 0;
        });
        return command;
    }
}
