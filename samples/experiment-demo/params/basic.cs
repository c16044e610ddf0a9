/// Three learning rates for the logistic regression, one seed
using Kiln.Experiments;

public sealed record Knobs : ExperimentParams
{
    public double Lr { get; init; } = 0.1;
    public int Epochs { get; init; } = 30;
    public int Seed { get; init; } = 1;
}

public static class BasicParams
{
    public static IEnumerable<Knobs> GetParams() =>
    [
        new Knobs { Name = "slow", Lr = 0.01 },
        new Knobs { Name = "medium", Lr = 0.1 },
        new Knobs { Name = "fast", Lr = 1.0 },
    ];
}
