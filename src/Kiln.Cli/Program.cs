using System.CommandLine;
using Kiln.Cli;
using Kiln.Cli.Commands;
using Kiln.Cli.Output;

var cli = new Cli();
var root = new RootCommand("kiln: steer a training run while it runs, and reproduce it afterwards")
{
    cli.Dir, cli.Plain, cli.NoColor,
};
root.Subcommands.Add(StatusCommand.Build(cli));
root.Subcommands.Add(InitCommand.Build(cli));
root.Subcommands.Add(CallbackCommands.Build(cli));
root.Subcommands.Add(ModuleCommands.Build(cli, "opt", "Change the optimizer: learning rate, weight decay, …"));
root.Subcommands.Add(ModuleCommands.Build(cli, "loss", "Change loss weights, terms and ramps"));
root.Subcommands.Add(FreezeCommand.Build(cli));
root.Subcommands.Add(RecipeCommands.Build(cli));
root.Subcommands.Add(LaunchCommand.Build(cli));
foreach (var sugar in SugarCommands.Build(cli)) root.Subcommands.Add(sugar);

var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    // One line naming every fault, the most specific (an unrecognized word) first.
    var messages = parse.Errors
        .Select(e => string.Join(" ", e.Message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)))
        .OrderBy(m => m.StartsWith("Required command", StringComparison.Ordinal) ? 1 : 0);
    Terminal.Error(string.Join("; ", messages) + " (see `kiln --help`)");
    return 2;
}
return parse.Invoke();
