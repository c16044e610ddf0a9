using System.Text.Json.Nodes;
using Kiln.Modules.Loss;
using Kiln.Modules.Opt;
using Kiln.Protocol;

namespace Kiln.Control;

/// <summary>
/// Routes the <c>set k=v …</c> shortcut: optimizer keys (lr, weight_decay, betas, eps, momentum, clip_norm,
/// scheduler_scale, scheduler_drop, group, groups) go to <c>opt</c>; <c>*_w</c>, <c>terms.*</c> and <c>ramps.*</c> go to
/// <c>loss</c>. Keys of both kinds, or of neither, are an error that names the subcommand to use.
/// </summary>
public static class SetRouter
{
    public static string Route(JsonObject parameters)
    {
        if (parameters.Count == 0) throw new ProtocolException("set: give at least one key=value");
        var opt = new List<string>();
        var loss = new List<string>();
        var unknown = new List<string>();
        foreach (var (key, _) in parameters)
        {
            if (IsOptKey(key)) opt.Add(key);
            else if (LossModule.IsLossKey(key)) loss.Add(key);
            else unknown.Add(key);
        }
        if (unknown.Count > 0)
            throw new ProtocolException($"set: cannot tell which module {string.Join(", ", unknown)} belong{(unknown.Count == 1 ? "s" : "")} to; use `kiln opt set_params` or `kiln loss set_params` (or `kiln cb set_params <id>` for a callback)");
        if (opt.Count > 0 && loss.Count > 0)
            throw new ProtocolException($"set: {string.Join(", ", opt)} (optimizer) and {string.Join(", ", loss)} (loss) belong to different modules; use `kiln opt set_params` and `kiln loss set_params` separately");
        return opt.Count > 0 ? "opt" : "loss";
    }

    public static bool IsOptKey(string key) =>
        Array.IndexOf(OptParam.Names, key) >= 0 || Array.IndexOf(OptModule.SelectorKeys, key) >= 0;

    /// <summary>Checks key names before a command is queued, so typos fail at the prompt instead of in the ledger.</summary>
    public static void CheckKeys(string module, JsonObject parameters)
    {
        if (parameters.Count == 0) throw new ProtocolException($"{module} set_params: give at least one key=value");
        foreach (var (key, _) in parameters)
        {
            var ok = module switch
            {
                "opt" => IsOptKey(key),
                "loss" => LossModule.IsLossKey(key),
                _ => true,
            };
            if (!ok)
            {
                throw new ProtocolException(module == "opt"
                    ? $"{key}: not an optimizer key (known: {string.Join(", ", OptParam.Names)}, group, groups)"
                    : $"{key}: not a loss key (use <term>_w, terms.<term> or ramps.<term>)");
            }
        }
    }
}
