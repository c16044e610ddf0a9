using System.CommandLine;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln opt …</c>, <c>kiln loss …</c>, or the commands of any module with handles: enable, disable, set_params on a
/// handle (<c>--id</c>, default main). Keys and values are checked at the prompt for the modules
/// <see cref="Kiln.Control.ParamCheck"/> knows; the kernel checks the rest.
/// </summary>
internal static class ModuleCommands
{
    /// <param name="help">What the module changes.</param>
    /// <param name="keysHelp">The keys its <c>set_params</c> takes.</param>
    public static Command Build(Cli cli, string module, string help, string keysHelp)
    {
        var root = new Command(module, help);
        foreach (var op in new[] { "enable", "disable" })
        {
            var id = Cli.IdOption(module);
            var command = new Command(op, $"{char.ToUpperInvariant(op[0])}{op[1..]} the {module} handle") { id };
            cli.Steer(command, c => new KilnCommand { Module = module, Op = op, Id = c.Get(id) });
            root.Subcommands.Add(command);
        }
        root.Subcommands.Add(SetParams(cli, module, keysHelp));
        return root;
    }

    private static Command SetParams(Cli cli, string module, string keysHelp)
    {
        var id = Cli.IdOption(module);
        var pairs = Cli.PairsArgument();
        var command = new Command("set_params", keysHelp) { id, pairs };
        cli.Steer(command, c => new KilnCommand { Module = module, Op = "set_params", Id = c.Get(id), Params = Cli.Pairs(c.Get(pairs)) });
        return command;
    }
}
