using System.CommandLine;

namespace Kiln.Cli.Commands;

internal static class InitCommand
{
    public static Command Build(Cli cli)
    {
        var command = new Command("init", "Create a run directory's files (kiln.yaml, inbox, ledger, recipe, freeze state), keeping any that exist");
        cli.Handle(command, c =>
        {
            var created = c.Run.Init();
            c.Out.Line(created.Count == 0
                ? $"{c.Run.Files.Dir}: every file already exists; nothing changed"
                : $"{c.Run.Files.Dir}: created {string.Join(", ", created)}");
            return 0;
        });
        return command;
    }
}
