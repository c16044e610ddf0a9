using System.CommandLine;
using Kiln.Cli;
using Kiln.Cli.Commands;
using Kiln.Cli.Output;

var cli = new Cli();
var root = new RootCommand("kiln: steer a training run while it runs, and reproduce it afterwards")
{
    cli.Dir, cli.Plain, cli.NoColor,
};

// Each top-level command and how to build it. Only the command being run is built (a quick `kiln status`
// matters); help and unknown words build them all.
var commands = new (string Name, Func<IEnumerable<Command>> Build)[]
{
    ("status", () => [StatusCommand.Build(cli)]),
    ("init", () => [InitCommand.Build(cli)]),
    ("cb", () => [CallbackCommands.Build(cli)]),
    ("opt", () => [ModuleCommands.Build(cli, "opt", "Change the optimizer: learning rate, weight decay, …",
        "Set optimizer values: lr, weight_decay, betas, eps, momentum, clip_norm, scheduler_scale, scheduler_drop; group=<name> or groups={…} to target groups")]),
    ("loss", () => [ModuleCommands.Build(cli, "loss", "Change loss weights, terms and ramps",
        "Set loss values: <term>_w=weight, terms.<term>=true|false, ramps.<term>={type,end_step|warmup_frac,start,end}")]),
    ("freeze", () => [FreezeCommand.Build(cli)]),
    ("recipe", () => [RecipeCommands.Build(cli)]),
    ("launch", () => [LaunchCommand.Build(cli)]),
    ("trials", () => [TrialsCommands.Build(cli)]),
    ("revert", () => [RevertCommand.Build(cli)]),
    ("diff", () => [DiffCommand.Build(cli)]),
    ("serve", () => [ServeCommands.Serve(cli)]),
    ("demo", () => [ServeCommands.Demo(cli)]),
    ("enable", () => [SugarCommands.Enable(cli)]),
    ("disable", () => [SugarCommands.Disable(cli)]),
    ("set", () => [SugarCommands.Set(cli)]),
    ("workspace", () => [WorkspaceCommands.Build(cli)]),
    ("models", () => [ModelsCommand.Build(cli)]),
    ("registry", () => [RegistryCommands.Build(cli)]),
    ("train", () => [TrainCommands.Train(cli)]),
    ("trial", () => [TrainCommands.Trial(cli)]),
    ("queue", () => [TrainCommands.Queue(cli)]),
    ("report", () => [ReportCommand.Build(cli)]),
    ("autopilot", () => [AutopilotCommands.Build(cli)]),
    ("tune", () => [TuneCommands.Build(cli)]),
    ("experiment", () => [ExperimentCommands.Experiment(cli)]),
    ("reports", () => [ExperimentCommands.Reports(cli)]),
    ("bench", () => [BenchCommands.Build(cli)]),
};
var word = CommandWord(args);
foreach (var (name, build) in commands)
{
    if (word is null || commands.All(c => c.Name != word) || name == word)
    {
        foreach (var command in build()) root.Subcommands.Add(command);
    }
}

var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    // One line naming every fault, the most specific (an unrecognized word) first.
    var messages = parse.Errors
        .Select(e => string.Join(" ", e.Message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).TrimEnd('.'))
        .OrderBy(m => m.StartsWith("Required command", StringComparison.Ordinal) ? 1 : 0);
    Terminal.Error(string.Join("; ", messages) + " (see `kiln --help`)");
    return 2;
}
return parse.Invoke();

// The first word that is neither an option nor the value of --dir.
static string? CommandWord(string[] args)
{
    for (var i = 0; i < args.Length; i++)
    {
        if (args[i] == "--dir") i++;
        else if (!args[i].StartsWith('-')) return args[i];
    }
    return null;
}
