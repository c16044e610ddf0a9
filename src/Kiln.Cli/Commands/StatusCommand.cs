using System.CommandLine;
using System.Globalization;
using Kiln.Cli.Output;
using Kiln.Control;
using Kiln.Protocol;

namespace Kiln.Cli.Commands;

internal static class StatusCommand
{
    public static Command Build(Cli cli)
    {
        var json = Cli.JsonOption();
        var command = new Command("status", "Show a run's freeze mode, inbox backlog and the last decision per module:id") { json };
        cli.Handle(command, c =>
        {
            var status = c.Run.Status();
            if (c.Get(json)) c.Out.Json(status.ToJson());
            else Print(c.Out, status);
            return 0;
        });
        return command;
    }

    private static void Print(Terminal t, RunStatus s)
    {
        t.Line($"run:     {s.Dir}");
        if (s.Run is { } run)
        {
            var when = run.End is null ? "" : $", ended {DateTimeOffset.FromUnixTimeMilliseconds((long)(run.End.Value * 1000)):u}";
            t.Line($"         {run.Kind}{(run.Config is null ? "" : " " + run.Config)}, ", run.Status, run.Status switch { RunInfo.Failed => "red", RunInfo.Interrupted or RunInfo.Stopped => "yellow", _ => "green" },
                $"{(run.Pid is null ? "" : ", pid " + run.Pid)}{when}{(run.Error is null ? "" : ": " + run.Error)}");
        }
        if (s.Freeze is { } f)
        {
            var detail = f.IsReplay
                ? $"  recipe={f.RecipePath}{(f.AdjustPath is null ? "" : " adjust=" + f.AdjustPath)} policy={f.Policy} step_offset={f.StepOffset}"
                : "";
            t.Line("freeze:  ", f.Mode, f.IsFrozen ? "yellow" : "green", detail);
        }
        else
        {
            t.Line("freeze:  ", "unreadable", "red", $" ({s.FreezeError})");
        }
        t.Line($"inbox:   {s.InboxLines} command{(s.InboxLines == 1 ? "" : "s")}, " + (s.Backlog == 0 ? "none waiting" : $"{s.Backlog} waiting for the kernel"));
        t.Line($"ledger:  {s.LedgerLines} line{(s.LedgerLines == 1 ? "" : "s")}{(s.LastStep is null ? "" : ", last at step " + s.LastStep.Value.ToString(CultureInfo.InvariantCulture))}");
        if (s.Handles.Count > 0)
        {
            t.Line();
            var rows = s.Handles.Select(h => (IReadOnlyList<string>)
            [
                h.Key, h.Last.Op ?? "", h.Last.Decision, h.Last.Step?.ToString(CultureInfo.InvariantCulture) ?? "-",
                h.Last.Source ?? "", Detail(h.Last),
            ]).ToList();
            t.Table(["handle", "op", "decision", "step", "source", "detail"], rows);
        }
        foreach (var p in s.Problems) Terminal.Warn(p);
    }

    private static string Detail(LedgerEntry e)
    {
        var text = e.Error ?? (e.Payload is { Count: > 0 } p ? KeyValueParser.Format(p) : null) ?? e.Notes ?? "";
        return text.Length > 80 ? text[..77] + "..." : text;
    }
}
