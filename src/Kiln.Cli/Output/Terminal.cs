using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Kiln.Cli.Output;

/// <summary>
/// Where commands write. On an interactive terminal it draws with Spectre.Console; with <c>--plain</c>, when
/// output is redirected or <c>NO_COLOR</c> is set, it writes plain aligned text (and never loads Spectre).
/// </summary>
internal sealed class Terminal
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public Terminal(bool plain, bool noColor)
    {
        Rich = !plain && !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("TERM") is not "dumb";
        Color = Rich && !noColor && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));
    }

    public bool Rich { get; }
    public bool Color { get; }

    public void Line(string text = "") => Console.Out.WriteLine(text);

    /// <summary>A line with one highlighted part (a decision, a mode), plain text when colour is off.</summary>
    public void Line(string before, string highlighted, string style, string after = "")
    {
        if (Color) RichText.Write(before, highlighted, style, after);
        else Console.Out.WriteLine(before + highlighted + after);
    }

    public void Json(JsonNode node) => Console.Out.WriteLine(node.ToJsonString(Indented));

    /// <summary>A large JSON document written as it is made, to standard output in large blocks.</summary>
    public void Json(Action<TextWriter> write)
    {
        Console.Out.Flush();
        using var output = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false), 1 << 16);
        write(output);
    }

    /// <param name="indent">Plain output: what each line starts with.</param>
    public void Table(IReadOnlyList<string> headers, IReadOnlyList<IReadOnlyList<string>> rows, string indent = "  ")
    {
        if (Rich)
        {
            RichText.Table(headers, rows, Color);
            return;
        }
        var widths = headers.Select(h => h.Length).ToArray();
        foreach (var row in rows)
            for (var i = 0; i < row.Count && i < widths.Length; i++) widths[i] = Math.Max(widths[i], row[i].Length);
        var sb = new StringBuilder();
        void Row(IReadOnlyList<string> cells)
        {
            sb.Clear().Append(indent);
            for (var i = 0; i < cells.Count; i++)
            {
                sb.Append(i == cells.Count - 1 ? cells[i] : cells[i].PadRight(widths[i] + 2));
            }
            Console.Out.WriteLine(sb.ToString().TrimEnd());
        }
        Row(headers);
        foreach (var row in rows) Row(row);
    }

    /// <summary>
    /// Until disposed, plain output is written in large blocks rather than a system call per line (a listing of
    /// thousands of lines). Rich output, which Spectre writes, is left as it is.
    /// </summary>
    public IDisposable Buffered() => Rich ? NoBuffer.Instance : new OutputBuffer();

    private sealed class NoBuffer : IDisposable
    {
        public static readonly NoBuffer Instance = new();

        public void Dispose() { }
    }

    private sealed class OutputBuffer : IDisposable
    {
        private readonly TextWriter _previous = Console.Out;
        private readonly StreamWriter _buffer = new(Console.OpenStandardOutput(), new UTF8Encoding(false), 1 << 16) { AutoFlush = false };

        public OutputBuffer() => Console.SetOut(_buffer);

        public void Dispose()
        {
            _buffer.Flush();
            Console.SetOut(_previous);
        }
    }

    /// <summary>A yes/no question on the terminal; anything but y or yes (or no answer at all: end of input) is No.</summary>
    public static bool Confirm(string question)
    {
        Console.Out.Write($"{question} [y/N] ");
        Console.Out.Flush();
        var answer = Console.In.ReadLine();
        if (answer is null) Console.Out.WriteLine();
        return answer?.Trim().ToLowerInvariant() is "y" or "yes";
    }

    public static void Error(string message) => Console.Error.WriteLine("kiln: error: " + message);

    public static void Warn(string message) => Console.Error.WriteLine("kiln: warning: " + message);

    /// <summary>The colour a decision is shown in.</summary>
    public static string DecisionStyle(string decision) => decision switch
    {
        "applied" => "green",
        "rejected" or "failed" or "missed" => "red",
        _ => "yellow",
    };
}
