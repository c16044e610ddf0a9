namespace Kiln.Modules.Opt;

/// <summary>
/// Optimizer hyper-parameters held as plain numbers, for training loops that read them each step
/// (<c>dials.Lr(group, step)</c>) instead of exposing an optimizer object. Also the reference
/// <see cref="IOptimizerActuator"/>.
/// </summary>
public sealed class OptimizerDials : IOptimizerActuator
{
    private readonly GroupDials[] _groups;
    private readonly HashSet<OptimizerKey> _supported;

    /// <param name="kind">Named for messages (<c>adam</c>, <c>sgd</c>).</param>
    /// <param name="groups">Name, base lr and schedule of each parameter group.</param>
    /// <param name="supported">The keys this optimizer has; others are rejected by the kernel.</param>
    public OptimizerDials(string kind, IEnumerable<(string Name, double Lr, LrSchedule? Schedule)> groups, IEnumerable<OptimizerKey>? supported = null)
    {
        Kind = kind;
        _groups = groups.Select(g => new GroupDials(g.Name, g.Lr, g.Schedule)).ToArray();
        if (_groups.Length == 0) throw new ArgumentException("an optimizer needs at least one group", nameof(groups));
        _supported = supported is null ? [.. Enum.GetValues<OptimizerKey>()] : [.. supported, OptimizerKey.Lr, OptimizerKey.SchedulerScale];
        Groups = _groups.Select(g => g.Name).ToArray();
    }

    /// <summary>A single group named <c>0</c>.</summary>
    public OptimizerDials(string kind, double lr, LrSchedule? schedule = null, IEnumerable<OptimizerKey>? supported = null)
        : this(kind, [("0", lr, schedule)], supported) { }

    public IReadOnlyList<string> Groups { get; }
    public string Kind { get; }

    public GroupDials this[int group] => _groups[group];

    public double Lr(int group, long step) => _groups[group].Lr.At(step);

    public ScheduledLr? LrOf(int group) => _groups[group].Lr;

    /// <summary>Gradient clipping by global norm; 0 is off.</summary>
    public double ClipNorm { get; private set; }

    public bool Supports(OptimizerKey key) => _supported.Contains(key);

    public double Get(int group, OptimizerKey key, long step) => key == OptimizerKey.ClipNorm ? ClipNorm : _groups[group].Get(key, step);

    public void Set(int group, OptimizerKey key, double value, long step)
    {
        if (key == OptimizerKey.ClipNorm) ClipNorm = value;
        else _groups[group].Set(key, value, step);
    }
}
