namespace Kiln.Train.Tensors;

/// <summary>
/// A seeded random generator (xoshiro256**, seeded through splitmix64) whose sequence is fixed by this code,
/// not by the runtime's version: the same seed gives the same initial weights, batches and dropout masks.
/// </summary>
public sealed class Rng
{
    private ulong _s0, _s1, _s2, _s3;
    private double? _spare;

    public Rng(ulong seed)
    {
        var x = seed;
        _s0 = SplitMix(ref x);
        _s1 = SplitMix(ref x);
        _s2 = SplitMix(ref x);
        _s3 = SplitMix(ref x);
    }

    /// <summary>An independent generator derived from this seed and a label, so adding a consumer does not shift the others.</summary>
    public static Rng For(long seed, string purpose)
    {
        ulong h = 14695981039346656037UL;
        foreach (var ch in purpose) h = (h ^ ch) * 1099511628211UL;
        return new Rng(unchecked((ulong)seed) ^ h);
    }

    private static ulong SplitMix(ref ulong x)
    {
        var z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        var result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        var t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [lo, hi).</summary>
    public float Uniform(float lo, float hi) => (float)(lo + (hi - lo) * NextDouble());

    /// <summary>Uniform integer in [0, n).</summary>
    public int Next(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n));
        return (int)((NextUInt64() >> 33) % (ulong)n);
    }

    /// <summary>Standard normal (Box–Muller).</summary>
    public double Normal()
    {
        if (_spare is { } s)
        {
            _spare = null;
            return s;
        }
        double u, v, r;
        do
        {
            u = 2 * NextDouble() - 1;
            v = 2 * NextDouble() - 1;
            r = u * u + v * v;
        }
        while (r >= 1 || r == 0);
        var f = Math.Sqrt(-2 * Math.Log(r) / r);
        _spare = v * f;
        return u * f;
    }

    /// <summary>Fisher–Yates shuffle.</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (var i = items.Length - 1; i > 0; i--)
        {
            var j = Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary>Where the sequence stands, so a checkpoint can continue it draw for draw.</summary>
    public RngState State => new(_s0, _s1, _s2, _s3, _spare);

    /// <summary>Continues the sequence from a <see cref="State"/> taken earlier (here or in another process).</summary>
    public void Restore(RngState state) => (_s0, _s1, _s2, _s3, _spare) = (state.S0, state.S1, state.S2, state.S3, state.Spare);

    public void FillUniform(Span<float> values, float lo, float hi)
    {
        for (var i = 0; i < values.Length; i++) values[i] = Uniform(lo, hi);
    }
}

/// <summary>The whole state of an <see cref="Rng"/>: its four words and the normal draw it holds back.</summary>
public readonly record struct RngState(ulong S0, ulong S1, ulong S2, ulong S3, double? Spare);
