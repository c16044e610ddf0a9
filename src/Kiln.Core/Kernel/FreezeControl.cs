using System.Globalization;
using Kiln.IO;
using Kiln.Modules;
using Kiln.Protocol;
using Kiln.Replay;

namespace Kiln.Kernel;

/// <summary>
/// Freeze and replay. The mode comes from <c>kiln.freeze.json</c> (watched) or a <c>core freeze</c> command (which
/// writes the file); it sets the dispatcher's gate. In the replay modes a <see cref="RecipePlayer"/> fires the recipe's
/// entries at their moments, and reports the ones whose moment passed as missed.
/// </summary>
internal sealed class FreezeControl(RunFiles files, LedgerRecorder ledger, Dispatcher dispatch, Func<bool> configWaiting)
{
    private readonly List<int> _fire = [];
    private readonly List<int> _missed = [];
    private FileStamp _stamp;
    private RecipePlayer? _player;

    /// <summary>The first step at which a recipe entry is due; <see cref="long.MaxValue"/> when none is.</summary>
    public long DueStep { get; private set; } = long.MaxValue;

    public FreezeState State => dispatch.Freeze;

    /// <summary>Recipe entries not yet fired or missed; 0 when not replaying.</summary>
    public int Remaining => _player?.Remaining ?? 0;

    public void Start(Moment at)
    {
        _stamp = FileStamp.Of(files.FreezePath);
        if (_stamp.Exists) LoadFile(at);
        ReleaseIfDone(at);
    }

    /// <summary>Reads <c>kiln.freeze.json</c> again when it changed.</summary>
    public void Poll(Moment at)
    {
        var stamp = FileStamp.Of(files.FreezePath);
        if (stamp == _stamp) return;
        _stamp = stamp;
        LoadFile(at);
        ReleaseIfDone(at);
    }

    /// <summary>A replay whose sequel is <c>off</c> lifts the freeze once nothing of its recipe is left.</summary>
    private void ReleaseIfDone(Moment at)
    {
        if (_player is not { Remaining: 0 } || State.After != FreezeState.Off) return;
        var result = Set(FreezeState.Unfrozen, writeFile: true);
        ledger.Kernel("unfreeze", at, result with { Notes = $"the recipe is done and {RunFiles.Freeze} says after: off" });
    }

    private void LoadFile(Moment at)
    {
        FreezeState state;
        try
        {
            state = File.Exists(files.FreezePath)
                ? FreezeState.FromJson(JsonValues.ParseDocument(File.ReadAllBytes(files.FreezePath), "content"))
                : FreezeState.Unfrozen;
        }
        catch (Exception ex) when (ex is ProtocolException or IOException or UnauthorizedAccessException)
        {
            ledger.Kernel("freeze", at, OpResult.Rejected($"{RunFiles.Freeze}: {ex.Message}; the freeze mode stays {State.Mode}"), Sources.FreezeFile);
            return;
        }
        if (state == State) return;
        var result = Set(state, writeFile: false);
        ledger.Kernel(state.IsFrozen ? "freeze" : "unfreeze", at, result, Sources.FreezeFile);
        if (result.Decision == Decision.Rejected && state.IsReplay && state.Policy == FreezeState.Strict)
            throw new ReplayMissedException($"strict replay could not start: {result.Error}");
    }

    /// <summary>Enters <paramref name="next"/> (loading its recipe); <paramref name="writeFile"/> when a command asked, so the file says it too.</summary>
    public OpResult Set(FreezeState next, bool writeFile)
    {
        RecipePlayer? player = null;
        var notes = new List<string>();
        if (next.IsReplay)
        {
            try { player = BuildPlayer(next, notes); }
            catch (ProtocolException ex) { return OpResult.Rejected(ex.Message); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return OpResult.Rejected(ex.Message); }
        }
        if (writeFile)
        {
            if (next.IsFrozen) AtomicFile.WriteJson(files.FreezePath, next.ToJson());
            else File.Delete(files.FreezePath);
            _stamp = FileStamp.Of(files.FreezePath);
        }
        if (_player is { Remaining: > 0 } old)
            notes.Add($"the previous replay stopped with {old.Remaining} entries not fired");
        var wasFrozen = State.IsFrozen;
        dispatch.Freeze = next;
        _player = player;
        DueStep = player?.NextDueStep ?? long.MaxValue;
        if (wasFrozen && !next.IsFrozen && configWaiting()) notes.Add($"{RunFiles.Config} changed while frozen; it is applied now");
        var payload = next.ToJson();
        if (player is not null) payload["recipe_entries"] = player.Count;
        return OpResult.Applied(payload, notes.Count > 0 ? string.Join("; ", notes) : null);
    }

    private RecipePlayer BuildPlayer(FreezeState state, List<string> notes)
    {
        var entries = RecipeFile.Read(files.Resolve(state.RecipePath!));
        if (state.Mode == FreezeState.ReplayAdjusted)
        {
            var spec = AdjustOverlay.Load(files.Resolve(state.AdjustPath!));
            entries = AdjustOverlay.Apply(entries, spec, notes);
            RecipeFile.Write(files.EffectiveRecipePath, entries);
        }
        var player = new RecipePlayer(entries, state.StepOffset, state.Policy);
        for (var i = 0; i < player.Count; i++)
        {
            if (ledger.Contains(player.CidOf(i))) player.MarkDone(i);
        }
        return player;
    }

    /// <summary>Fires the entries due at this safe point and reports the ones whose moment passed (under <c>strict</c>, the run fails).</summary>
    public void Fire(long step, string evt, KernelEnv env)
    {
        var player = _player!;
        _fire.Clear();
        _missed.Clear();
        player.Collect(step, evt, _fire, _missed);
        DueStep = player.NextDueStep;
        var at = new Moment(step, evt, env);
        foreach (var i in _missed)
        {
            var entry = player[i];
            RecordMissed(i, at, $"its moment passed: now step {step} ({evt})");
            if (player.Strict)
            {
                throw new ReplayMissedException(
                    $"strict replay: recipe entry {entry.Module} {entry.Op} {entry.Id} due at step {entry.Step + player.StepOffset} ({entry.Event}) was missed at step {step} ({evt}); see {RunFiles.Ledger}");
            }
        }
        foreach (var i in _fire)
        {
            var entry = player[i];
            var result = dispatch.Execute(entry.ToCommand(player.CidOf(i)), Sources.Replay, player.CidOf(i), at, gated: false);
            // Under strict, a change the replay could not make is as fatal as one it missed: the run would not be the recipe's.
            if (player.Strict && result.Decision is Decision.Failed or Decision.Rejected)
            {
                throw new ReplayMissedException(
                    $"strict replay: recipe entry {entry.Module} {entry.Op} {entry.Id} at step {entry.Step + player.StepOffset} ({entry.Event}) was {result.Decision}: {result.Error}; see {RunFiles.Ledger}");
            }
        }
        ReleaseIfDone(at);
    }

    /// <summary>The run ended: entries that never fired are missed. Returns the error that fails a strict replay, or null.</summary>
    public string? End(Moment at)
    {
        if (_player is not { } player) return null;
        var rest = player.DrainRemaining();
        var step = at.Step?.ToString(CultureInfo.InvariantCulture) ?? "(none)";
        foreach (var i in rest) RecordMissed(i, at, $"the run ended at step {step} before it was due");
        DueStep = long.MaxValue;
        if (rest.Count == 0 || !player.Strict) return null;
        return $"strict replay: {rest.Count} recipe entr{(rest.Count == 1 ? "y was" : "ies were")} never applied (first due at step {player[rest[0]].Step + player.StepOffset}, {player[rest[0]].Event}); see {RunFiles.Ledger}";
    }

    private void RecordMissed(int index, Moment at, string why)
    {
        var player = _player!;
        var entry = player[index];
        var result = new OpResult(Decision.Missed,
            Error: $"missed_step:{entry.Step + player.StepOffset}:{entry.Event}: {why}",
            Notes: player.Strict ? "strict policy: the run fails" : "best_effort policy: the run goes on");
        ledger.Record(entry.ToCommand(player.CidOf(index)), Sources.Replay, player.CidOf(index), at, result);
    }
}
