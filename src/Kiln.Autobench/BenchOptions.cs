namespace Kiln.Autobench;

/// <summary>What <c>kiln bench run|eval</c> runs and where it writes.</summary>
public sealed record BenchOptions
{
    /// <summary><c>run</c> (synthetic, for CI) or <c>eval</c> (Fashion-MNIST, with the tuned cosine reference).</summary>
    public required string Suite { get; init; }

    public bool Quick { get; init; }
    public required string OutDir { get; init; }
    public int Seeds { get; init; } = 3;
    public string? DataDir { get; init; }

    /// <summary>The tasks; by default the suite's.</summary>
    public IReadOnlyList<BenchTask>? Tasks { get; init; }

    public const string RunSuite = "run";
    public const string EvalSuite = "eval";
}
