using System.CommandLine;
using Kiln.Control;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln opt …</c> and <c>kiln loss …</c>: enable, disable, set_params on a handle (<c>--id</c>, default main).</summary>
internal static class ModuleCommands
{
    public static Command Build(Cli cli, string module, string help)
    {
        var root = new Command(module, help);
        foreach (var op in new[] { "enable", "disable" })
        {
            var id = Cli.IdOption(module);
            var command = new Command(op, $"{char.ToUpperInvariant(op[0])}{op[1..]} the {module} handle") { id };
            cli.Handle(command, c => c.Queue(new KilnCommand { Module = module, Op = op, Id = c.Get(id) }));
            root.Subcommands.Add(command);
        }
        root.Subcommands.Add(SetParams(cli, module));
        return root;
    }

    public static Command SetParams(Cli cli, string module)
    {
        var id = Cli.IdOption(module);
        var pairs = Cli.PairsArgument();
        var command = new Command("set_params", module == "opt"
            ? "Set optimizer values: lr, weight_decay, betas, eps, momentum, clip_norm, scheduler_scale, scheduler_drop; group=<name> or groups={…} to target groups"
            : "Set loss values: <term>_w=weight, terms.<term>=true|false, ramps.<term>={type,end_step|warmup_frac,start,end}") { id, pairs };
        cli.Handle(command, c =>
        {
            var values = Cli.Pairs(c.Get(pairs));
            Cli.Usage(() => { SetRouter.CheckKeys(module, values); return 0; });
            return c.Queue(new KilnCommand { Module = module, Op = "set_params", Id = c.Get(id), Params = values });
        });
        return command;
    }
}
