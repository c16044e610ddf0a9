using Kiln.Modules.Opt;

namespace Kiln.Autobench;

/// <summary>How a condition's run trains: the optimizer, its starting learning rate and its schedule.</summary>
/// <param name="Optimizer"><c>adam</c> or <c>sf_adamw</c> (Schedule-Free AdamW).</param>
/// <param name="Warmup">Schedule-Free's warmup, in steps.</param>
/// <param name="Tune">The <c>tune</c> module's settings (<c>kiln.yaml</c>'s <c>tune.params</c>), or null for a run tune leaves alone.</param>
public sealed record BenchSetup(string Optimizer, double Lr, LrSchedule? Schedule = null, long Warmup = 0, System.Text.Json.Nodes.JsonObject? Tune = null)
{
    public const string Adam = "adam";
    public const string ScheduleFree = "sf_adamw";
}
