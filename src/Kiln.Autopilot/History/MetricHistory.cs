namespace Kiln.Autopilot.History;

/// <summary>
/// The recent values of every metric a run reported, newest last, each kept to the last <see cref="Capacity"/> points:
/// what rules and expressions look back over. Values that are not finite are kept (a NaN loss is news).
/// </summary>
public sealed class MetricHistory
{
    private readonly Dictionary<string, Ring> _series = new(StringComparer.Ordinal);

    public MetricHistory(int capacity = 1000)
    {
        if (capacity < 2) throw new ArgumentOutOfRangeException(nameof(capacity), "must keep at least 2 points");
        Capacity = capacity;
    }

    public int Capacity { get; }

    /// <summary>The step of the newest point of any metric; -1 before the first.</summary>
    public long Step { get; private set; } = -1;

    public IEnumerable<string> Names => _series.Keys;

    public void Add(long step, string name, double value)
    {
        if (!_series.TryGetValue(name, out var ring)) _series[name] = ring = new Ring(Capacity);
        ring.Add(step, value);
        if (step > Step) Step = step;
    }

    /// <summary>How many points of <paramref name="name"/> are kept.</summary>
    public int Count(string name) => _series.TryGetValue(name, out var r) ? r.Count : 0;

    /// <summary>The newest value of <paramref name="name"/>, or null when it was never reported.</summary>
    public double? Last(string name) => _series.TryGetValue(name, out var r) && r.Count > 0 ? r.Value(r.Count - 1) : null;

    /// <summary>
    /// The last <paramref name="n"/> values of <paramref name="name"/>, oldest first; fewer when fewer were reported, or
    /// when fewer came after step <paramref name="after"/> (a rule looks only at what followed its last action).
    /// </summary>
    public double[] Window(string name, int n, long after = long.MinValue)
    {
        if (!_series.TryGetValue(name, out var r)) return [];
        var take = Math.Min(n, r.Count);
        while (take > 0 && r.Step(r.Count - take) <= after) take--;
        var values = new double[take];
        for (var i = 0; i < take; i++) values[i] = r.Value(r.Count - take + i);
        return values;
    }

    /// <summary>The step of the <paramref name="n"/>-th newest point of <paramref name="name"/> (1: the newest), or null when fewer were kept.</summary>
    public long? StepBack(string name, int n) =>
        _series.TryGetValue(name, out var r) && n >= 1 && n <= r.Count ? r.Step(r.Count - n) : null;

    private sealed class Ring(int capacity)
    {
        private readonly long[] _steps = new long[capacity];
        private readonly double[] _values = new double[capacity];
        private int _start;

        public int Count { get; private set; }

        public void Add(long step, double value)
        {
            var at = (_start + Count) % _values.Length;
            if (Count == _values.Length) _start = (_start + 1) % _values.Length;
            else Count++;
            _steps[at] = step;
            _values[at] = value;
        }

        public double Value(int i) => _values[(_start + i) % _values.Length];

        public long Step(int i) => _steps[(_start + i) % _steps.Length];
    }
}
