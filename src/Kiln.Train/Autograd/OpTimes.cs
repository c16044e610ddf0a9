using System.Diagnostics;

namespace Kiln.Train.Autograd;

/// <summary>The kinds of work a training step is split into when it is profiled.</summary>
internal enum OpKind
{
    ConvForward,
    ConvBackwardData,
    ConvBackwardWeights,
    Pooling,
    Gemm,
    Elementwise,
    Loss,
    Optimizer,
}

/// <summary>
/// Wall time spent per <see cref="OpKind"/> while <see cref="Enabled"/>, so the engine benchmark can show where a
/// step goes and which operation to speed up next. Off by default: each operation then pays one branch.
/// Operations run on the training thread (their parallel parts live inside them), so plain counters suffice.
/// </summary>
internal static class OpTimes
{
    private static readonly long[] Ticks = new long[Enum.GetValues<OpKind>().Length];

    public static bool Enabled { get; set; }

    public static void Reset() => Array.Clear(Ticks);

    public static TimeSpan Of(OpKind kind) => Stopwatch.GetElapsedTime(0, Ticks[(int)kind]);

    /// <summary>
    /// Splits the wall time since <paramref name="start"/> between two kinds of work that ran interleaved on several
    /// threads, in proportion to the time the threads spent on each.
    /// </summary>
    public static void AddShares(long start, OpKind first, long firstWork, OpKind second, long secondWork)
    {
        if (!Enabled) return;
        var wall = Stopwatch.GetTimestamp() - start;
        var total = Math.Max(1, firstWork + secondWork);
        Ticks[(int)first] += wall * firstWork / total;
        Ticks[(int)second] += wall * secondWork / total;
    }

    /// <summary>Times the enclosing block: <c>using var _ = OpTimes.Measure(OpKind.Pooling);</c></summary>
    public static Scope Measure(OpKind kind) => new(kind, Enabled ? Stopwatch.GetTimestamp() : 0);

    internal readonly struct Scope(OpKind kind, long start) : IDisposable
    {
        public void Dispose()
        {
            if (start != 0) Ticks[(int)kind] += Stopwatch.GetTimestamp() - start;
        }
    }
}
