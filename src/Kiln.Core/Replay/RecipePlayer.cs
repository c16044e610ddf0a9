using System.Security.Cryptography;
using System.Text;
using Kiln.Protocol;

namespace Kiln.Replay;

/// <summary>
/// Fires recipe entries at their exact moment: entry <c>(step, event)</c> fires at the safe point whose step is
/// <c>step + offset</c> and whose event is <c>event</c>. An entry whose step has passed is reported missed at
/// once; entries still pending when the run ends are missed then.
/// </summary>
public sealed class RecipePlayer
{
    private readonly RecipeEntry[] _entries;
    private readonly bool[] _done;
    private readonly string _fingerprint;
    private int _next;

    public RecipePlayer(IReadOnlyList<RecipeEntry> entries, long stepOffset, string policy)
    {
        _entries = entries.OrderBy(e => e.Step).ToArray();
        _done = new bool[_entries.Length];
        StepOffset = stepOffset;
        Policy = policy;
        var sb = new StringBuilder();
        foreach (var e in _entries) sb.Append(e.ToJson().ToJsonString()).Append('\n');
        _fingerprint = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())))[..12];
        Advance();
    }

    public long StepOffset { get; }
    public string Policy { get; }
    public bool Strict => Policy == FreezeState.Strict;
    public int Count => _entries.Length;
    public int Remaining => _done.Count(d => !d);

    /// <summary>The first step at which something is due; <see cref="long.MaxValue"/> when nothing is left.</summary>
    public long NextDueStep { get; private set; }

    /// <summary>The ledger id of entry <paramref name="index"/>, unique to this recipe, so a restarted run skips what it already replayed.</summary>
    public string CidOf(int index) => $"replay:{_fingerprint}:{index}";

    public RecipeEntry this[int index] => _entries[index];

    /// <summary>Marks an entry handled without firing it (a restarted run finds it in the ledger).</summary>
    public void MarkDone(int index)
    {
        _done[index] = true;
        Advance();
    }

    /// <summary>
    /// At safe point (<paramref name="step"/>, <paramref name="evt"/>): adds the indices of entries to fire and of
    /// entries missed (their step is behind), in recipe order, and marks them handled.
    /// </summary>
    public void Collect(long step, string evt, List<int> fire, List<int> missed)
    {
        for (var i = _next; i < _entries.Length; i++)
        {
            var due = _entries[i].Step + StepOffset;
            if (due > step) break;
            if (_done[i]) continue;
            if (due < step) { missed.Add(i); _done[i] = true; }
            else if (_entries[i].Event == evt) { fire.Add(i); _done[i] = true; }
        }
        Advance();
    }

    /// <summary>Every entry not yet handled (the run is ending), marked handled.</summary>
    public List<int> DrainRemaining()
    {
        var rest = new List<int>();
        for (var i = _next; i < _entries.Length; i++)
        {
            if (_done[i]) continue;
            rest.Add(i);
            _done[i] = true;
        }
        Advance();
        return rest;
    }

    private void Advance()
    {
        while (_next < _entries.Length && _done[_next]) _next++;
        NextDueStep = _next < _entries.Length ? _entries[_next].Step + StepOffset : long.MaxValue;
    }
}
