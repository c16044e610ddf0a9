using System.CommandLine;
using System.Text.Json.Nodes;
using Kiln.Cli.Output;
using Kiln.Control;
using Kiln.Protocol;

namespace Kiln.Cli;

/// <summary>Options every command shares, and the glue that runs a command's action with clean exit codes.</summary>
internal sealed class Cli
{
    public Option<string> Dir { get; } = new("--dir")
    {
        Description = "The run directory",
        DefaultValueFactory = _ => ".",
        Recursive = true,
    };

    public Option<bool> Plain { get; } = new("--plain") { Description = "Plain text output, no tables or colour", Recursive = true };

    public Option<bool> NoColor { get; } = new("--no-color") { Description = "No colour", Recursive = true };

    public static Option<bool> JsonOption() => new("--json") { Description = "Machine-readable JSON output" };

    public static Option<string> IdOption(string what) => new("--id")
    {
        Description = $"The {what} handle",
        DefaultValueFactory = _ => "main",
    };

    public static Argument<string[]> PairsArgument() => new("key=value")
    {
        Description = "Values to set: true/false, numbers (1e-4), JSON ({…}, […]) or text",
        Arity = ArgumentArity.OneOrMore,
    };

    /// <summary>Sets <paramref name="command"/>'s action: exit 0 on success, 1 when the work fails, 2 for usage errors.</summary>
    public void Handle(Command command, Func<Context, int> action)
    {
        command.SetAction(parse =>
        {
            var context = new Context(parse, new RunControl(parse.GetValue(Dir)!), new Terminal(parse.GetValue(Plain), parse.GetValue(NoColor)));
            try
            {
                return action(context);
            }
            catch (UsageException ex)
            {
                Terminal.Error(ex.Message);
                return 2;
            }
            catch (Exception ex) when (ex is ProtocolException or IOException or UnauthorizedAccessException)
            {
                Terminal.Error(ex.Message);
                return 1;
            }
        });
    }

    /// <summary>Parses k=v arguments; a malformed one is a usage error.</summary>
    public static JsonObject Pairs(IEnumerable<string>? pairs)
    {
        try { return KeyValueParser.Parse(pairs ?? []); }
        catch (ProtocolException ex) { throw new UsageException(ex.Message); }
    }

    public static T Usage<T>(Func<T> check)
    {
        try { return check(); }
        catch (ProtocolException ex) { throw new UsageException(ex.Message); }
    }
}

internal sealed record Context(ParseResult Parse, RunControl Run, Terminal Out)
{
    public T? Get<T>(Option<T> option) => Parse.GetValue(option);

    public T? Get<T>(Argument<T> argument) => Parse.GetValue(argument);

    /// <summary>Queues a command and says so in one line (or prints it as JSON).</summary>
    public int Queue(KilnCommand command, bool json = false)
    {
        var sent = Run.Send(command);
        if (json)
        {
            Out.Json(sent.ToJson());
            return 0;
        }
        var what = $"{sent.Module} {sent.Op}{(sent.Id is null ? "" : " " + sent.Id)}";
        var detail = sent.Params is { Count: > 0 } p ? " " + KeyValueParser.Format(p) : "";
        Out.Line("queued ", what, "cyan", $"{detail} (cid {sent.Cid})");
        return 0;
    }
}
