using System.CommandLine;
using System.Text.Json.Nodes;
using Kiln.Cli.Output;
using Kiln.Control;
using Kiln.Protocol;
using Kiln.Registry;
using Kiln.Registry.Workspace;
using Kiln.Runs;

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

    /// <summary>How long <c>--wait</c> without a number waits for the kernel's decision.</summary>
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Sets a steering command's action: the command <paramref name="build"/> makes is checked, queued in the run's inbox
    /// and, with <c>--wait [SECONDS]</c>, the kernel's decision is awaited and printed (exit 1 unless applied).
    /// </summary>
    public void Steer(Command command, Func<Context, KilnCommand> build)
    {
        var wait = new Option<double?>("--wait")
        {
            Description = $"Wait for the kernel's decision and print it (default {DefaultWait.TotalSeconds:0} s); exit 1 unless it is applied",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var json = JsonOption();
        command.Options.Add(wait);
        command.Options.Add(json);
        Handle(command, c =>
        {
            TimeSpan? waitFor = null;
            if (c.Parse.GetResult(wait) is { } given)
            {
                waitFor = DurationOption.Get(c, wait, zeroAllowed: false) ?? DefaultWait;
            }
            return c.Queue(build(c), c.Get(json), waitFor);
        });
    }

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
            catch (Exception ex) when (ex is ProtocolException or IOException or UnauthorizedAccessException or RegistryException or Kiln.Execution.Slurm.SlurmException)
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

    /// <summary>The workspace holding <c>--dir</c> (the current folder by default): the nearest folder at or above it with a kiln.json.</summary>
    public WorkspacePaths Workspace() => WorkspacePaths.Find(Run.Files.Dir)
        ?? throw new RegistryException($"{Run.Files.Dir}: not in a Kiln workspace (no kiln.json here or in a folder above); `kiln workspace init` creates one");

    /// <summary>
    /// Queues a command and says so in one line (or prints it as JSON); with <paramref name="wait"/>, waits for the
    /// kernel's decision and reports it. A command for a run that has ended gets a warning: nothing reads it until a run
    /// trains in that directory again.
    /// </summary>
    public int Queue(KilnCommand command, bool json = false, TimeSpan? wait = null)
    {
        Cli.Usage(() => { Run.Check(command); return 0; });
        var ledgerAt = Run.LedgerLength();
        var sent = Run.Send(command);
        var what = $"{sent.Module} {sent.Op}{(sent.Id is null ? "" : " " + sent.Id)}";
        var run = RunState.Read(Run.Files.Dir);
        var ended = run is { Status: not RunInfo.Running } ? run : null;
        if (wait is null)
        {
            if (json) Out.Json(sent.ToJson());
            else
            {
                var detail = sent.Params is { Count: > 0 } p ? " " + KeyValueParser.Format(p) : "";
                Out.Line("queued ", what, "cyan", $"{detail} (cid {sent.Cid})");
            }
            if (ended is not null)
                Terminal.Warn($"the run is {ended.Status}: no kernel reads this command until a run trains in {Run.Files.Dir} again");
            return 0;
        }
        var decision = ended is null ? Run.WaitForDecision(sent.Cid!, ledgerAt, wait.Value) : null;
        if (json)
        {
            Out.Json(new JsonObject { ["command"] = sent.ToJson(), ["decision"] = decision is null ? null : JsonNode.Parse(decision.ToJsonLine()) });
        }
        else if (decision is not null)
        {
            var style = decision.Decision == Decision.Applied ? "green" : decision.Decision == Decision.SkippedNoop ? "yellow" : "red";
            var at = decision.Step is { } step ? $" at step {step} ({decision.Event})" : "";
            var why = decision.Error ?? decision.Notes;
            Out.Line($"{what} ", decision.Decision, style, $"{at}{(why is null ? "" : ": " + why)} (cid {sent.Cid})");
        }
        if (decision is null)
        {
            Terminal.Error(ended is not null
                ? $"{what} queued (cid {sent.Cid}), but the run is {ended.Status}: no kernel will decide it"
                : $"{what} queued (cid {sent.Cid}); no decision within {wait.Value.TotalSeconds:0.#} s (is a kernel running in {Run.Files.Dir}? `kiln status` shows the backlog)");
            return 1;
        }
        return decision.Decision == Decision.Applied ? 0 : 1;
    }
}
