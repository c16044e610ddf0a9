namespace Kiln.Modules.Opt;

/// <summary>
/// Optimizer hyper-parameters held as plain numbers, for training loops that read them each step
/// (<c>dials.Lr(group, step)</c>) instead of exposing an optimizer object. Also the reference
/// <see cref="IOptimizerActuator"/>.
/// </summary>
public sealed class OptimizerDials : IOptimizerActuator
{
    private readonly Group[] _groups;
    private readonly HashSet<OptimizerKey> _supported;
    private double _clipNorm;

    public sealed class Group(string name, ScheduledLr lr)
    {
        public string Name { get; } = name;
        public ScheduledLr Lr { get; } = lr;
        public double WeightDecay { get; set; }
        public double Beta1 { get; set; } = 0.9;
        public double Beta2 { get; set; } = 0.999;
        public double Eps { get; set; } = 1e-8;
        public double Momentum { get; set; }
    }

    /// <param name="kind">Named for messages (<c>adam</c>, <c>sgd</c>).</param>
    /// <param name="groups">Name, base lr and schedule of each parameter group.</param>
    /// <param name="supported">The keys this optimizer has; others are rejected by the kernel.</param>
    public OptimizerDials(string kind, IEnumerable<(string Name, double Lr, LrSchedule? Schedule)> groups, IEnumerable<OptimizerKey>? supported = null)
    {
        Kind = kind;
        _groups = groups.Select(g => new Group(g.Name, new ScheduledLr(g.Lr, g.Schedule))).ToArray();
        if (_groups.Length == 0) throw new ArgumentException("an optimizer needs at least one group", nameof(groups));
        _supported = supported is null ? [.. Enum.GetValues<OptimizerKey>()] : [.. supported, OptimizerKey.Lr, OptimizerKey.SchedulerScale];
        Groups = _groups.Select(g => g.Name).ToArray();
    }

    /// <summary>A single group named <c>0</c>.</summary>
    public OptimizerDials(string kind, double lr, LrSchedule? schedule = null, IEnumerable<OptimizerKey>? supported = null)
        : this(kind, [("0", lr, schedule)], supported) { }

    public IReadOnlyList<string> Groups { get; }
    public string Kind { get; }

    public Group this[int group] => _groups[group];

    public double Lr(int group, long step) => _groups[group].Lr.At(step);

    public double ClipNorm => _clipNorm;

    public bool Supports(OptimizerKey key) => _supported.Contains(key);

    public double Get(int group, OptimizerKey key, long step)
    {
        var g = _groups[group];
        return key switch
        {
            OptimizerKey.Lr => g.Lr.At(step),
            OptimizerKey.WeightDecay => g.WeightDecay,
            OptimizerKey.Beta1 => g.Beta1,
            OptimizerKey.Beta2 => g.Beta2,
            OptimizerKey.Eps => g.Eps,
            OptimizerKey.Momentum => g.Momentum,
            OptimizerKey.SchedulerScale => g.Lr.Scale,
            OptimizerKey.ClipNorm => _clipNorm,
            _ => throw new ArgumentOutOfRangeException(nameof(key)),
        };
    }

    public void Set(int group, OptimizerKey key, double value, long step)
    {
        var g = _groups[group];
        switch (key)
        {
            case OptimizerKey.Lr: g.Lr.Rebase(value, step); break;
            case OptimizerKey.WeightDecay: g.WeightDecay = value; break;
            case OptimizerKey.Beta1: g.Beta1 = value; break;
            case OptimizerKey.Beta2: g.Beta2 = value; break;
            case OptimizerKey.Eps: g.Eps = value; break;
            case OptimizerKey.Momentum: g.Momentum = value; break;
            case OptimizerKey.SchedulerScale: g.Lr.Scale = value; break;
            case OptimizerKey.ClipNorm: _clipNorm = value; break;
            default: throw new ArgumentOutOfRangeException(nameof(key));
        }
    }
}
