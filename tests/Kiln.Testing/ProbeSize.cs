namespace Kiln.Testing;

/// <summary>
/// How big the SIGKILL and many-writer probes run: small in the test suite, full in <c>scripts/soak.sh</c>, chosen by
/// <c>KILN_SOAK</c> (<c>small</c>, the default, or <c>full</c>). <c>KILN_SOAK_SEED</c> repeats a run's random choices.
/// </summary>
public sealed record ProbeSize(string Name, int Kills, int KillWriters, int Writers, int CommandsPerWriter)
{
    public static readonly ProbeSize Small = new("small", Kills: 3, KillWriters: 4, Writers: 100, CommandsPerWriter: 2);

    /// <summary>Issue 11's sizes: 20 SIGKILLs of a training run with live commands; 100 writers × 100 commands.</summary>
    public static readonly ProbeSize Full = new("full", Kills: 20, KillWriters: 8, Writers: 100, CommandsPerWriter: 100);

    public static ProbeSize FromEnvironment() => Environment.GetEnvironmentVariable("KILN_SOAK") switch
    {
        null or "" or "small" => Small,
        "full" => Full,
        var other => throw new ArgumentException($"KILN_SOAK={other}: expected small or full"),
    };

    /// <summary>The seed of a probe's random choices: <c>KILN_SOAK_SEED</c> when set, else a new one (failures print it).</summary>
    public static int Seed() =>
        int.TryParse(Environment.GetEnvironmentVariable("KILN_SOAK_SEED"), out var seed) ? seed : Random.Shared.Next();
}
