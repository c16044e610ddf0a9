using Spectre.Console;

namespace Kiln.Cli.Output;

/// <summary>The Spectre.Console drawing, kept apart so plain output never loads it.</summary>
internal static class RichText
{
    public static void Write(string before, string highlighted, string style, string after) =>
        AnsiConsole.MarkupLine($"{Markup.Escape(before)}[{style}]{Markup.Escape(highlighted)}[/]{Markup.Escape(after)}");

    public static void Table(IReadOnlyList<string> headers, IReadOnlyList<IReadOnlyList<string>> rows, bool color)
    {
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var h in headers) table.AddColumn(new TableColumn(Markup.Escape(h)));
        var decisionColumn = headers.ToList().IndexOf("decision");
        foreach (var row in rows)
        {
            table.AddRow(row.Select((cell, i) =>
                color && i == decisionColumn
                    ? new Markup($"[{Terminal.DecisionStyle(cell)}]{Markup.Escape(cell)}[/]")
                    : new Markup(Markup.Escape(cell))).ToArray());
        }
        AnsiConsole.Write(table);
    }
}
