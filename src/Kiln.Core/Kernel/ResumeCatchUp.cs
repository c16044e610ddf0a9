using System.Text.Json.Nodes;
using Kiln.Modules;
using Kiln.Protocol;
using Kiln.Replay;

namespace Kiln.Kernel;

/// <summary>
/// A run resumed from a checkpoint starts from the state of the checkpoint's moment, but its ledger goes further: the
/// changes applied after the checkpoint (a command read between two periodic checkpoints, before a kill) were made in
/// steps the run now takes again. They are made again at their steps, in their order — ledgered with source
/// <c>resume</c> and the id <c>resume:&lt;seq&gt;</c> of the line they repeat — so the resumed run is the uninterrupted
/// one, and no command is read twice from the inbox. Callbacks loaded by command before the checkpoint are loaded again
/// when the kernel starts, with the params and switch they had then (their own state starts afresh: a checkpoint holds
/// the trainer's state, not a callback's).
/// </summary>
internal sealed class ResumeCatchUp
{
    private readonly List<int> _fire = [];
    private readonly List<int> _missed = [];
    private readonly RecipePlayer _player;
    private readonly long[] _seqs;

    private readonly List<Command> _callbacks;

    private ResumeCatchUp(List<RecipeEntry> entries, long[] seqs, List<Command> callbacks)
    {
        _player = new RecipePlayer(entries, 0, FreezeState.BestEffort);
        _seqs = seqs;
        _callbacks = callbacks;
    }

    /// <summary>The id of a change made again starts so, followed by the seq of the line it repeats.</summary>
    private const string CidPrefix = "resume:";

    public long DueStep => _player.NextDueStep;

    /// <summary>The changes after <paramref name="afterSeq"/> in <paramref name="ledger"/>, and the callbacks loaded before it.</summary>
    public static ResumeCatchUp From(IReadOnlyList<LedgerEntry> ledger, long afterSeq)
    {
        var lines = ledger.Where(e => e.Seq > afterSeq).ToList();
        // A line made again by an earlier resume whose original is also after the checkpoint: the original is enough.
        var present = lines.Select(l => l.Seq).ToHashSet();
        lines.RemoveAll(l => l.Source == Sources.Resume && l.Cid is { } c && c.StartsWith(CidPrefix, StringComparison.Ordinal)
            && long.TryParse(c.AsSpan(CidPrefix.Length), out var repeated) && present.Contains(repeated));
        var entries = new List<RecipeEntry>();
        var seqs = new List<long>();
        foreach (var line in lines)
        {
            if (RecipeFile.Entry(line) is not { } entry) continue;
            entries.Add(entry);
            seqs.Add(line.Seq);
        }
        // The player orders by step, stably: ledger order within a step is kept, and so is the seq beside each entry.
        var order = Enumerable.Range(0, entries.Count).OrderBy(i => entries[i].Step).ToArray();
        return new ResumeCatchUp([.. order.Select(i => entries[i])], [.. order.Select(i => seqs[i])], Callbacks(ledger.Where(e => e.Seq <= afterSeq)));
    }

    /// <summary>
    /// The commands that load the callbacks a command loaded before the checkpoint and did not unload, each followed by its
    /// params since and its switch. <c>kiln.yaml</c>'s and the trainer's own come back by themselves (the baseline).
    /// </summary>
    private static List<Command> Callbacks(IEnumerable<LedgerEntry> before)
    {
        var loaded = new Dictionary<string, (RecipeEntry Load, JsonObject Params, bool Enabled)>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var e in before)
        {
            if (e.Module != "cb" || e.Id is not { } id || e.Decision != Decision.Applied) continue;
            if (e.Event == KernelEvents.Start || e.Source == Sources.Code) continue;
            switch (e.Op)
            {
                case "load":
                    if (RecipeFile.Entry(e) is { } load)
                    {
                        loaded[id] = (load, [], load.Enabled ?? true);
                        order.Remove(id);
                        order.Add(id);
                    }
                    break;
                case "unload":
                    loaded.Remove(id);
                    order.Remove(id);
                    break;
                case "enable" or "disable" when loaded.TryGetValue(id, out var c):
                    loaded[id] = c with { Enabled = e.Op == "enable" };
                    break;
                case "set_params" when loaded.TryGetValue(id, out var c) && e.Payload is { } p:
                    foreach (var (k, v) in p) c.Params[k] = v?.DeepClone();
                    break;
            }
        }
        var commands = new List<Command>();
        foreach (var id in order)
        {
            var (load, parameters, enabled) = loaded[id];
            commands.Add(new Command(load with { Enabled = enabled }) { Source = Sources.Resume });
            if (parameters.Count > 0) commands.Add(new Command { Module = "cb", Op = "set_params", Id = id, Params = parameters, Source = Sources.Resume });
        }
        return commands;
    }

    /// <summary>Loads the callbacks again, as the kernel starts.</summary>
    public void LoadCallbacks(Moment at, Dispatcher dispatch)
    {
        for (var i = 0; i < _callbacks.Count; i++)
        {
            var c = _callbacks[i];
            var cid = $"{CidPrefix}cb:{c.Id}:{i}";
            dispatch.Execute(c with { Cid = cid }, Sources.Resume, cid, at, gated: false);
        }
    }

    /// <summary>Makes the changes due at this safe point; one whose moment passed (none should) is ledgered missed.</summary>
    public void Fire(long step, string evt, KernelEnv env, Dispatcher dispatch, LedgerRecorder ledger)
    {
        _fire.Clear();
        _missed.Clear();
        _player.Collect(step, evt, _fire, _missed);
        var at = new Moment(step, evt, env);
        foreach (var i in _missed)
        {
            var e = _player[i];
            ledger.Record(e.ToCommand(Cid(i)), Sources.Resume, Cid(i), at,
                new OpResult(Decision.Missed, Notes: $"the change of ledger line {_seqs[i]} at step {e.Step} ({e.Event}) could not be made again: now step {step} ({evt})"));
        }
        foreach (var i in _fire) dispatch.Execute(_player[i].ToCommand(Cid(i)), Sources.Resume, Cid(i), at, gated: false);
    }

    private string Cid(int i) => CidPrefix + _seqs[i].ToString(System.Globalization.CultureInfo.InvariantCulture);
}
