namespace Kiln.Metrics.Epochs;

/// <summary>The (epoch, mode) groups of a log or of a stretch of it, in order of first appearance, found by key.</summary>
internal sealed class EpochGroups
{
    private readonly BatchLogHeader _header;
    private readonly List<EpochGroup> _groups = [];
    // Per mode number, the groups by epoch.
    private readonly List<Dictionary<long, EpochGroup>> _index = [];

    public EpochGroups(BatchLogHeader header) => _header = header;

    public int Count => _groups.Count;
    public EpochGroup this[int i] => _groups[i];

    /// <summary>The rows of all the groups.</summary>
    public int Rows { get; set; }

    /// <summary>The group of (<paramref name="epoch"/>, <paramref name="mode"/>), if it has rows.</summary>
    public EpochGroup? Find(long epoch, int mode) => mode < _index.Count ? _index[mode].GetValueOrDefault(epoch) : null;

    /// <summary>The group of (<paramref name="epoch"/>, <paramref name="mode"/>): the one there is, marked split, or a new one starting at <paramref name="start"/>.</summary>
    public EpochGroup Resume(long epoch, int mode, long start)
    {
        if (Find(epoch, mode) is { } group)
        {
            group.Split = true;
            return group;
        }
        group = new EpochGroup(epoch, mode, _header, start);
        Add(group);
        return group;
    }

    /// <summary>
    /// Adds the groups of a later stretch of the log, whose mode numbers become those of <paramref name="modes"/>
    /// through <paramref name="laterModes"/>: groups already here take its totals and are split, new ones are appended.
    /// </summary>
    public void Merge(EpochGroups later, ModeNames laterModes, ModeNames modes)
    {
        foreach (var group in later._groups)
        {
            var mode = modes.Intern(laterModes.Bytes(group.Mode), laterModes.Name(group.Mode));
            if (Find(group.Epoch, mode) is { } earlier)
            {
                earlier.Merge(_header, group);
                earlier.Split = true;
                continue;
            }
            group.Renumber(mode);
            Add(group);
        }
        Rows += later.Rows;
    }

    private void Add(EpochGroup group)
    {
        while (_index.Count <= group.Mode) _index.Add([]);
        _index[group.Mode].Add(group.Epoch, group);
        _groups.Add(group);
    }
}
