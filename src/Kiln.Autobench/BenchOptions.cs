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

    /// <summary>Only these conditions (by name: <c>fixed</c>, <c>tune</c>, <c>cosine_tuned</c>, …); all of them when null.</summary>
    public IReadOnlyCollection<string>? Only { get; init; }

    /// <summary>Whether condition <paramref name="name"/> is run.</summary>
    public bool Runs(string name) => Only is null || Only.Contains(name);

    /// <summary>The AI autopilot's endpoint, model and budget; null lists its rows as not run.</summary>
    public Kiln.Autopilot.Ai.AiSettings? Ai { get; init; }

    /// <summary>The tasks; by default the suite's.</summary>
    public IReadOnlyList<BenchTask>? Tasks { get; init; }

    public const string RunSuite = "run";
    public const string EvalSuite = "eval";
}
