using Kiln.Protocol;
using Kiln.Trials.Expansion;

namespace Kiln.Trials.Running;

/// <summary>
/// What can be told about a trial's configuration before it runs: for the built-in trainer (trials without
/// <c>command:</c>), the keys, types and values it reads — so <c>kiln trials expand</c> reports a typo at once instead of
/// every trial failing with it later.
/// </summary>
public static class TrialChecks
{
    /// <summary>One error per leaf and fault (a leaf's trials share their keys), naming the trial's cfg.yaml and the key.</summary>
    public static IReadOnlyList<string> Check(string root, ExpansionResult expansion)
    {
        var errors = new List<string>();
        foreach (var leaf in expansion.Leaves)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var trial in leaf.Trials)
            {
                if (trial.Config.ContainsKey("command")) continue;
                try
                {
                    var where = Path.GetRelativePath(root, Path.Combine(trial.Dir, TrialPaths.ConfigFile));
                    CfgTrainer.Read(trial.Config, trial.Dataset, trial.Model, trial.Trainer, where);
                }
                catch (ProtocolException ex)
                {
                    // The same fault in every trial of a leaf is said once, for the first.
                    var fault = ex.Message[(ex.Message.IndexOf(": ", StringComparison.Ordinal) + 2)..];
                    if (seen.Add(fault)) errors.Add(ex.Message);
                }
            }
        }
        return errors;
    }
}
