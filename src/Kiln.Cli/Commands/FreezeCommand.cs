using System.CommandLine;
using Kiln.Cli.Output;
using Kiln.Protocol;

namespace Kiln.Cli.Commands;

internal static class FreezeCommand
{
    public static Command Build(Cli cli)
    {
        var mode = new Option<string>("--mode") { Description = "off, prod (block external changes), replay or replay_adjusted", Required = true };
        mode.AcceptOnlyFromAmong(FreezeState.Modes);
        var recipe = new Option<string>("--recipe") { Description = "The recipe to replay, relative to the run directory (default kiln.recipe.jsonl in the run)" };
        var adjust = new Option<string>("--adjust") { Description = "The adjust overlay for replay_adjusted, relative to the run directory (default kiln.adjust.yaml in the run)" };
        var policy = new Option<string>("--policy") { Description = "What a missed entry does", DefaultValueFactory = _ => FreezeState.BestEffort };
        policy.AcceptOnlyFromAmong(FreezeState.Policies);
        var offset = new Option<long>("--step-offset") { Description = "Steps added to every recipe entry", DefaultValueFactory = _ => 0 };
        var command = new Command("freeze", "Set the run's freeze mode (written to kiln.freeze.json; the kernel picks it up at its next poll)")
        {
            mode, recipe, adjust, policy, offset,
        };
        cli.Handle(command, c =>
        {
            var m = c.Get(mode)!;
            var replay = m is FreezeState.Replay or FreezeState.ReplayAdjusted;
            if (!replay && (c.Get(recipe) is not null || c.Get(adjust) is not null))
                throw new UsageException($"freeze: --recipe and --adjust apply to replay modes, not {m}");
            if (m == FreezeState.Replay && c.Get(adjust) is not null)
                throw new UsageException("freeze: --adjust needs --mode replay_adjusted");
            // Relative paths are the run directory's, as in kiln.freeze.json itself.
            string? Stored(string? given, string fallback) =>
                !replay ? null : given is null ? fallback : Path.IsPathRooted(given) ? c.Run.RunRelative(given) : given;
            var state = c.Run.SetFreeze(new FreezeState
            {
                Mode = m,
                RecipePath = Stored(c.Get(recipe), RunFiles.Recipe),
                AdjustPath = m == FreezeState.ReplayAdjusted ? Stored(c.Get(adjust), RunFiles.Adjust) : null,
                Policy = c.Get(policy)!,
                StepOffset = c.Get(offset),
            });
            var detail = state.IsReplay
                ? $" (recipe {state.RecipePath}{(state.AdjustPath is null ? "" : ", adjust " + state.AdjustPath)}, policy {state.Policy}, step offset {state.StepOffset})"
                : "";
            c.Out.Line("freeze mode ", state.Mode, state.IsFrozen ? "yellow" : "green", detail);
            return 0;
        });
        return command;
    }
}
