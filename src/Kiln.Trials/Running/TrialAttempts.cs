using System.Globalization;
using Kiln.IO;
using Kiln.Kernel;
using Kiln.Protocol;
using Kiln.Replay;
using Kiln.Runs;

namespace Kiln.Trials.Running;

/// <summary>
/// Starting a trial over: what the earlier attempt left moves to <c>attempts/&lt;n&gt;/</c>, so the trial's files describe
/// only the attempt that runs now. An attempt that did not finish is continued faithfully: the changes it applied are
/// replayed at their steps (its recipe, then the freeze lifts) so the new attempt's ledger tells the run that happened.
/// An attempt that left a checkpoint is not archived at all: the next attempt resumes it.
/// </summary>
public static class TrialAttempts
{
    /// <summary>An attempt's files; the trial's configuration, its <c>kiln.yaml</c> and captured sources stay.</summary>
    private static readonly string[] Leftovers =
    [
        RunFiles.Metrics, "stdout.log", "stderr.log", RunFiles.Run, RunFiles.Ledger, RunFiles.Commands, RunFiles.Actuators,
        RunFiles.Freeze, RunFiles.Recipe, RunFiles.EffectiveRecipe, RunFiles.BatchLog, RunFiles.EpochLog, "model.safetensors",
    ];

    /// <summary>
    /// Archives the previous attempt, if any. With <paramref name="continuePrevious"/> (it was interrupted or failed), its
    /// applied changes become a recipe the new attempt replays before it is steerable again. Returns the archive folder.
    /// </summary>
    public static string? Archive(string dir, bool continuePrevious)
    {
        // An attempt stopped with a checkpoint is not started over: the worker resumes it, its files and ledger go on.
        if (continuePrevious && RunCheckpoint.Exists(dir)) return null;
        var leftovers = Leftovers.Select(f => Path.Combine(dir, f)).Where(File.Exists).ToList();
        if (leftovers.Count == 0) return null;
        var n = 1;
        while (Directory.Exists(Path.Combine(dir, "attempts", Number(n)))) n++;
        var target = Directory.CreateDirectory(Path.Combine(dir, "attempts", Number(n))).FullName;
        foreach (var f in leftovers) File.Move(f, Path.Combine(target, Path.GetFileName(f)));
        // A checkpoint of an attempt that is started over would make the new attempt resume it.
        var checkpoint = Path.Combine(dir, RunFiles.Checkpoint);
        if (Directory.Exists(checkpoint)) Directory.Move(checkpoint, Path.Combine(target, RunFiles.Checkpoint));
        var ledger = Path.Combine(target, RunFiles.Ledger);
        if (!continuePrevious || !File.Exists(ledger)) return target;

        var recipe = RecipeFile.Export(Ledger.ReadAll(ledger));
        if (recipe.Count == 0) return target;
        var recipePath = Path.Combine(target, RunFiles.Recipe);
        RecipeFile.Write(recipePath, recipe);
        var relative = Path.GetRelativePath(dir, recipePath).Replace(Path.DirectorySeparatorChar, '/');
        AtomicFile.WriteJson(Path.Combine(dir, RunFiles.Freeze), new FreezeState
        {
            Mode = FreezeState.Replay, RecipePath = relative, Policy = FreezeState.BestEffort, After = FreezeState.Off,
        }.ToJson());
        return target;
    }

    private static string Number(int n) => n.ToString(CultureInfo.InvariantCulture);
}
