using Kiln.Cli.Commands;
using Kiln.Runs;
using Spectre.Console;

namespace Kiln.Cli.Output;

/// <summary>A progress bar with the latest metrics, for interactive terminals.</summary>
internal static class RichProgress
{
    public static LaunchResult Run(string name, long steps,
        Func<Action<string>, Action<long, IReadOnlyList<(string Name, double Value)>>, LaunchResult> run)
    {
        LaunchResult? result = null;
        var latest = new Dictionary<string, double>(StringComparer.Ordinal);
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(name), maxValue: steps);
                var lastDraw = DateTime.MinValue;
                result = run(
                    message => AnsiConsole.MarkupLine("[grey]{0}[/]", Markup.Escape(message)),
                    (step, metrics) =>
                    {
                        foreach (var (n, v) in metrics) latest[n] = v;
                        if ((DateTime.UtcNow - lastDraw).TotalMilliseconds < 100) return;
                        lastDraw = DateTime.UtcNow;
                        task.Value = step + 1;
                        task.Description = Markup.Escape($"{name} {LaunchCommand.Format(latest, brief: true)}");
                    });
                task.Value = result.LastStep is { } s ? s + 1 : task.Value;
            });
        return result!;
    }
}
