using System.CommandLine;
using Kiln.Cli.Output;
using Kiln.Registry.Workspace;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln workspace init|deinit</c>: make a folder a workspace (numb's init), and undo it (docs/registry.md).</summary>
internal static class WorkspaceCommands
{
    public static Command Build(Cli cli)
    {
        var workspace = new Command("workspace", "Make a folder a Kiln workspace (kiln.json, .kiln/ with the registry, the usual folders), or undo it");
        workspace.Subcommands.Add(Init(cli));
        workspace.Subcommands.Add(Deinit(cli));
        return workspace;
    }

    private static Command Init(Cli cli)
    {
        var name = new Option<string?>("--name") { Description = "The workspace's name (default: the folder's name)" };
        var command = new Command("init", "Create kiln.json, .kiln/ (registry.db, cache/, stores/, models/, jobs/), runs/ cfg/ experiments/ params/ callbacks/ reports/, "
            + "a .gitignore line for .kiln/ and an editor project, in --dir (default: here); what exists is kept") { name };
        cli.Handle(command, c =>
        {
            var report = WorkspaceInit.Run(c.Run.Files.Dir, new WorkspaceInitOptions { Name = c.Get(name) });
            c.Out.Line($"workspace {report.Workspace.Root}");
            foreach (var step in report.Steps) c.Out.Line($"  {step.Message}");
            c.Out.Line(report.ChangedNothing ? "nothing changed: the workspace was complete" : $"{report.Steps.Count(s => s.Created)} created, {report.Steps.Count(s => !s.Created)} kept");
            return 0;
        });
        return command;
    }

    private static Command Deinit(Cli cli)
    {
        var yes = new Option<bool>("--yes", "-y") { Description = "Remove without asking" };
        var command = new Command("deinit", "Remove kiln.json, the registry and Kiln's folders in .kiln/; runs, reports, sources and git snapshot refs are kept") { yes };
        cli.Handle(command, c =>
        {
            var plan = WorkspaceDeinit.Plan(c.Workspace());
            c.Out.Line($"workspace {plan.Workspace.Root}");
            if (plan.Remove.Count == 0)
            {
                c.Out.Line("nothing of Kiln's is left to remove");
                return 0;
            }
            c.Out.Line("will remove:");
            foreach (var item in plan.Remove) c.Out.Line($"  {item.Path}  ({item.Detail})");
            if (plan.Keep.Count > 0)
            {
                c.Out.Line("will keep:");
                foreach (var item in plan.Keep) c.Out.Line($"  {item.Path}  ({item.Detail})");
            }
            if (!c.Get(yes))
            {
                if (Console.IsInputRedirected)
                {
                    Terminal.Error("nothing removed: there is no terminal to ask on; run `kiln workspace deinit --yes` to remove the files listed");
                    return 1;
                }
                if (!Terminal.Confirm($"Remove {plan.Remove.Count} item{(plan.Remove.Count == 1 ? "" : "s")} listed above?"))
                {
                    c.Out.Line("nothing removed");
                    return 1;
                }
            }
            var removed = WorkspaceDeinit.Execute(plan);
            c.Out.Line($"removed {string.Join(", ", removed)}");
            return 0;
        });
        return command;
    }
}
