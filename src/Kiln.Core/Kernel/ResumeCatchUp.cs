using Kiln.Modules;
using Kiln.Protocol;
using Kiln.Replay;

namespace Kiln.Kernel;

/// <summary>
/// A run resumed from a checkpoint starts from the state of the checkpoint's moment, but its ledger goes further: the
/// changes applied after the checkpoint (a command read between two periodic checkpoints, before a kill) were made in
/// steps the run now takes again. They are made again at their steps, in their order — ledgered with source
/// <c>resume</c> and the id <c>resume:&lt;seq&gt;</c> of the line they repeat — so the resumed run is the uninterrupted
/// one, and no command is read twice from the inbox.
/// </summary>
internal sealed class ResumeCatchUp
{
    private readonly List<int> _fire = [];
    private readonly List<int> _missed = [];
    private readonly RecipePlayer _player;
    private readonly long[] _seqs;

    private ResumeCatchUp(List<RecipeEntry> entries, long[] seqs)
    {
        _player = new RecipePlayer(entries, 0, FreezeState.BestEffort);
        _seqs = seqs;
    }

    public long DueStep => _player.NextDueStep;

    /// <summary>The changes after <paramref name="afterSeq"/> in <paramref name="ledger"/>, or null when there are none.</summary>
    public static ResumeCatchUp? From(IEnumerable<LedgerEntry> ledger, long afterSeq)
    {
        var lines = ledger.Where(e => e.Seq > afterSeq).ToList();
        var entries = new List<RecipeEntry>();
        var seqs = new List<long>();
        // One line at a time, so each entry keeps the seq it repeats (the export keeps the order and skips what is not a change).
        foreach (var line in lines)
        {
            var exported = RecipeFile.Export([line]);
            if (exported.Count == 0) continue;
            entries.Add(exported[0]);
            seqs.Add(line.Seq);
        }
        // The player orders by step, stably: ledger order within a step is kept, and so is the seq beside each entry.
        var order = Enumerable.Range(0, entries.Count).OrderBy(i => entries[i].Step).ToArray();
        return entries.Count == 0 ? null : new ResumeCatchUp([.. order.Select(i => entries[i])], [.. order.Select(i => seqs[i])]);
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

    private string Cid(int i) => $"resume:{_seqs[i]}";
}
