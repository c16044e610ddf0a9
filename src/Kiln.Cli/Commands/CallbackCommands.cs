using System.CommandLine;
using Kiln.Cli.Output;
using Kiln.Protocol;
using Kiln.Runs;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln cb enable|disable|load|set_params|unload</c>.</summary>
internal static class CallbackCommands
{
    public static Command Build(Cli cli)
    {
        var cb = new Command("cb", "Load, switch and tune callbacks");
        foreach (var (op, help) in new[] { ("enable", "Enable a callback"), ("disable", "Disable a callback"), ("unload", "Unload a callback (Close is called, its assembly freed)") })
            cb.Subcommands.Add(Simple(cli, op, help));
        cb.Subcommands.Add(Load(cli));
        cb.Subcommands.Add(SetParams(cli));
        return cb;
    }

    /// <summary>A command that queues <c>cb &lt;op&gt; &lt;id&gt;</c>; also used by the <c>enable</c>/<c>disable</c> shortcuts.</summary>
    public static Command Simple(Cli cli, string op, string help)
    {
        var id = new Argument<string>("id") { Description = "The callback's id" };
        var command = new Command(op, help) { id };
        cli.Steer(command, c => new KilnCommand { Module = "cb", Op = op, Id = c.Get(id) });
        return command;
    }

    private static Command Load(Cli cli)
    {
        var id = new Argument<string>("id") { Description = "The id to load the callback under" };
        var file = new Option<string>("--file") { Description = "A source file: C# (compiled when loaded), or Python (.py) for a run whose kernel is Python (clients/python)" };
        var path = new Option<string>("--path") { Description = "A loaded type (Kiln.Callbacks.Timing) or an assembly (My.dll, or My.dll:Ns.Type)" };
        var symbol = new Option<string>("--symbol") { Description = "The class: in the file, the assembly, or the namespace given as --path" };
        var enabled = new Option<bool>("--enabled") { Description = "Start enabled" };
        var disabled = new Option<bool>("--no-enabled") { Description = "Start disabled (the default)" };
        var init = new Option<string[]>("--init")
        {
            Description = "Constructor arguments as key=value",
            AllowMultipleArgumentsPerToken = true,
            Arity = ArgumentArity.OneOrMore,
        };
        var budget = new Option<double?>("--time-budget")
        {
            Description = "Seconds each call into the callback may take (default: the run's kernel.callback_time_budget_s, 30); one that overruns is disabled and left running",
        };
        var command = new Command("load", "Load a callback from a C# file, a loaded type or an assembly") { id, file, path, symbol, enabled, disabled, init, budget };
        cli.Steer(command, c =>
        {
            var f = c.Get(file);
            var p = c.Get(path);
            if ((f is null) == (p is null)) throw new UsageException("cb load: give --file <source.cs> or --path <type|assembly.dll>, one of them");
            if (c.Get(enabled) && c.Get(disabled)) throw new UsageException("cb load: --enabled and --no-enabled contradict each other");
            CallbackTarget target;
            if (f is not null)
            {
                var full = Path.GetFullPath(f);
                if (!File.Exists(full)) throw new ProtocolException($"{full}: source file not found");
                CheckLanguage(full, c.Run.Files.Dir);
                target = new CallbackTarget(CallbackTarget.FileKind, full, c.Get(symbol));
            }
            else
            {
                var spec = p!;
                var named = FileSymbol.TryParse(spec, out var fs) && fs.File.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? fs : (FileSymbol?)null;
                if (named is not null || spec.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
                {
                    var full = Path.GetFullPath(named?.File ?? spec);
                    if (!File.Exists(full)) throw new ProtocolException($"{full}: assembly not found");
                    target = new CallbackTarget(CallbackTarget.AssemblyKind, named is { } n ? $"{full}:{n.Symbol}" : full, c.Get(symbol));
                }
                else
                {
                    target = new CallbackTarget(CallbackTarget.TypeKind, spec, c.Get(symbol));
                }
            }
            var initValues = c.Get(init) is { Length: > 0 } pairs ? Cli.Pairs(pairs) : null;
            double? seconds = c.Get(budget) is { } b ? CheckBudget(b) : null;
            return new KilnCommand { Module = "cb", Op = "load", Id = c.Get(id), Target = target, Init = initValues, Enabled = c.Get(enabled), TimeBudgetS = seconds };
        });
        return command;
    }

    /// <summary>
    /// A callback file must be in the language of the run's kernel: C# for Kiln's own, Python for a PyTorch script's
    /// (<c>kernel: python</c> in <c>kiln.run.json</c>), so a wrong file is refused at the prompt, not by the kernel.
    /// </summary>
    private static void CheckLanguage(string file, string runDir)
    {
        var python = RunState.Read(runDir)?.Kernel == RunInfo.PythonKernel;
        var extension = Path.GetExtension(file).ToLowerInvariant();
        if (python && extension != ".py")
            throw new UsageException($"cb load: {file}: the run in {runDir} has a Python kernel; give a Python file (.py)");
        if (!python && extension == ".py")
            throw new UsageException($"cb load: {file}: a Python callback needs a run whose kernel is Python (kiln.run.json says kernel: python, written by clients/python's kiln.Run); this run's kernel is C#");
    }

    private static double CheckBudget(double seconds)
    {
        try { return TimeBudget.Check(seconds, "--time-budget"); }
        catch (ProtocolException ex) { throw new UsageException("cb load: " + ex.Message); }
    }

    private static Command SetParams(Cli cli)
    {
        var id = new Argument<string>("id") { Description = "The callback's id" };
        var pairs = Cli.PairsArgument();
        var command = new Command("set_params", "Set a callback's parameters") { id, pairs };
        cli.Steer(command, c => new KilnCommand { Module = "cb", Op = "set_params", Id = c.Get(id), Params = Cli.Pairs(c.Get(pairs)) });
        return command;
    }
}
