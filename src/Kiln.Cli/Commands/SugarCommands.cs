using System.CommandLine;
using Kiln.Control;

namespace Kiln.Cli.Commands;

/// <summary>The shortcuts: <c>enable</c>/<c>disable</c> (callbacks) and <c>set</c> (routed to opt or loss by its keys).</summary>
internal static class SugarCommands
{
    public static Command Enable(Cli cli) => CallbackCommands.Simple(cli, "enable", "Enable a callback (same as cb enable)");

    public static Command Disable(Cli cli) => CallbackCommands.Simple(cli, "disable", "Disable a callback (same as cb disable)");

    public static Command Set(Cli cli)
    {
        var id = new Option<string>("--id") { Description = "The opt or loss handle", DefaultValueFactory = _ => "main" };
        var pairs = Cli.PairsArgument();
        var set = new Command("set", "Set optimizer keys (lr, weight_decay, …) or loss keys (*_w, terms.*, ramps.*); routed by key") { id, pairs };
        cli.Steer(set, c =>
        {
            var values = Cli.Pairs(c.Get(pairs));
            var module = Cli.Usage(() => SetRouter.Route(values));
            return new KilnCommand { Module = module, Op = "set_params", Id = c.Get(id), Params = values };
        });
        return set;
    }
}
