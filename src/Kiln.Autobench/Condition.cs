namespace Kiln.Autobench;

/// <summary>
/// One row of the benchmark: a way to train (setup) and, for the steered ones, the controller that follows the run;
/// or a method the bench cannot run here, with the reason (<see cref="NotRun"/>).
/// </summary>
/// <param name="Start">Where the learning rate starts: <c>lr×10</c>, <c>lr÷10</c> (the mis-set starts), <c>default</c> (the method's own).</param>
/// <param name="Controller">Builds the controller for a run directory; null for a run nobody steers.</param>
/// <param name="Population">PBT's population (<see cref="Pbt.PbtRunner"/>); 0 for a single run.</param>
public sealed record Condition(string Name, string Start, BenchSetup? Setup, Func<string, IBenchController>? Controller = null, string? NotRun = null, int Population = 0)
{
    public const string High = "lr×10";
    public const string Low = "lr÷10";
    public const string Default = "default";

    public static Condition Skipped(string name, string reason) => new(name, "—", null, NotRun: reason);
}
