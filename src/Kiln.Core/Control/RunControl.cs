using System.Text;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Kernel;
using Kiln.Protocol;
using Kiln.Replay;
using Kiln.Runs;

namespace Kiln.Control;

/// <summary>
/// Everything a front end does to a run directory from outside the training process: queue commands,
/// set the freeze state, bootstrap the files, report status, and export and check recipes. The command line
/// and the dashboard are thin shells over this class.
/// </summary>
public sealed class RunControl
{
    private readonly string _source;
    private readonly TimeProvider _time;

    public RunControl(string dir, string source = Sources.Cli, TimeProvider? time = null)
    {
        Files = new RunFiles(dir);
        _source = source;
        _time = time ?? TimeProvider.System;
    }

    public RunFiles Files { get; }

    private void RequireDir()
    {
        if (!Directory.Exists(Files.Dir))
            throw new ProtocolException($"{Files.Dir}: no such run directory (`kiln --dir {Files.Dir} init` creates one)");
    }

    /// <summary>The files that make a folder a run directory: a run's record, its kernel's traces, or <c>kiln init</c>'s files.</summary>
    private static readonly string[] RunMarkers = [RunFiles.Run, RunFiles.Ledger, RunFiles.Config, RunFiles.Freeze, RunFiles.KernelLock, KilnRun.LockFile];

    /// <summary>Whether <paramref name="dir"/> holds a run (or was made one by <c>kiln init</c>).</summary>
    public static bool IsRunDirectory(string dir) => RunMarkers.Any(m => File.Exists(Path.Combine(dir, m)));

    /// <summary>
    /// Steering commands go to run directories only: a command written into a folder that is not one (a forgotten run
    /// name: <c>--dir runs</c>) would never be read, and would make the folder look like a run.
    /// </summary>
    private void RequireRun()
    {
        RequireDir();
        if (IsRunDirectory(Files.Dir)) return;
        var runs = Directory.EnumerateDirectories(Files.Dir).Where(IsRunDirectory).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        var hint = runs.Count == 0 ? "" : $"; the runs in it: {string.Join(", ", runs.Take(5))}{(runs.Count > 5 ? $", … ({runs.Count} in all)" : "")}";
        throw new ProtocolException($"{Files.Dir}: not a run directory (no {RunFiles.Run}, {RunFiles.Ledger} or {RunFiles.Config}){hint}; `kiln --dir {Files.Dir} init` makes it one");
    }

    /// <summary>Checks what can be checked before the kernel sees a command: keys and values of opt and loss changes.</summary>
    public void Check(Command command)
    {
        if (command.Op == "set_params" && command.Module is "opt" or "loss") ParamCheck.Check(command.Module, command.Params ?? [], Dials());
    }

    /// <summary>The run's dials as its kernel last wrote them (<c>kiln.actuators.json</c>), or none.</summary>
    public IReadOnlyList<JsonObject> Dials()
    {
        try
        {
            if (!File.Exists(Files.ActuatorsPath)) return [];
            return JsonValues.ParseDocument(File.ReadAllBytes(Files.ActuatorsPath), RunFiles.Actuators)["actuators"] is JsonArray list
                ? [.. list.OfType<JsonObject>()]
                : [];
        }
        catch (Exception ex) when (ex is ProtocolException or IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>Queues a command in the inbox with a fresh cid, the time and this front end as its source.</summary>
    public Command Send(Command draft)
    {
        RequireRun();
        Check(draft);
        var command = draft with
        {
            Cid = draft.Cid ?? Command.NewCid(),
            Ts = draft.Ts ?? _time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0,
            Source = draft.Source ?? _source,
        };
        JsonlFile.Append(Files.CommandsPath, Encoding.UTF8.GetBytes(command.ToJson().ToJsonString()));
        return command;
    }

    public Command SetParams(string module, string? id, JsonObject parameters) =>
        Send(new Command { Module = module, Op = "set_params", Id = id, Params = parameters });

    /// <summary>
    /// Waits for the kernel's decision on the command with <paramref name="cid"/>, reading the ledger from
    /// <paramref name="ledgerOffset"/> on (its length before the command was sent); null when none came in time.
    /// </summary>
    public LedgerEntry? WaitForDecision(string cid, long ledgerOffset, TimeSpan timeout)
    {
        var deadline = _time.GetTimestamp() + (long)(timeout.TotalSeconds * _time.TimestampFrequency);
        var tail = new JsonlTail(Files.LedgerPath, startOffset: ledgerOffset);
        var lines = new List<JsonlLine>();
        while (true)
        {
            while (tail.Poll(lines) > 0)
            {
                foreach (var line in lines)
                {
                    if (line.Oversized || LedgerHeader.ReadCid(line.Bytes.Span) != cid) continue;
                    return LedgerEntry.FromJson(JsonValues.ParseDocument(line.Bytes.Span, RunFiles.Ledger));
                }
            }
            if (_time.GetTimestamp() >= deadline) return null;
            Thread.Sleep(10);
        }
    }

    /// <summary>Where the ledger's complete lines end now: the decision of a command sent next is written after it.</summary>
    public long LedgerLength()
    {
        if (!File.Exists(Files.LedgerPath)) return 0;
        using var handle = File.OpenHandle(Files.LedgerPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        return JsonlTail.AfterLastNewline(handle, RandomAccess.GetLength(handle));
    }

    /// <summary>Creates the run directory and its files, keeping every file that exists. Returns the files created.</summary>
    public List<string> Init()
    {
        Directory.CreateDirectory(Files.Dir);
        var created = new List<string>();
        void Create(string path, string content)
        {
            if (File.Exists(path)) return;
            using (var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
                fs.Write(Encoding.UTF8.GetBytes(content));
            created.Add(Path.GetFileName(path));
        }
        Create(Files.ConfigPath, ConfigTemplate);
        Create(Files.CommandsPath, "");
        Create(Files.LedgerPath, "");
        Create(Files.RecipePath, "");
        Create(Files.FreezePath, FreezeState.Unfrozen.ToJson().ToJsonString(new() { WriteIndented = true }) + "\n");
        return created;
    }

    public const string ConfigTemplate = """
        # Kiln run configuration; see docs/protocol.md. Changes while the run trains are applied
        # at the next safe point and recorded in kiln.applied.jsonl (unless the run is frozen).
        version: 1
        # kernel:
        #   poll_interval_ms: 5
        #   debounce_steps: 1
        #   auto_disable_on_error: true
        # callbacks:
        #   heartbeat:
        #     target: {kind: type, path: Kiln.Callbacks.Heartbeat}
        #     init: {every: 100}
        #     enabled: true
        # opt:
        #   params: {lr: 1.0e-3, weight_decay: 0.01}
        #   bounds: {lr: [1.0e-7, 1.0]}
        # loss:
        #   params: {cls_w: 1.0}
        #   bounds: {cls_w: [0, 10]}

        """;

    /// <summary>
    /// Writes <c>kiln.freeze.json</c> (mode <c>off</c> removes it); the running kernel picks it up at its next poll.
    /// Replay modes check that the recipe (and adjust file) exist and parse before anything is written.
    /// </summary>
    /// <summary>
    /// Sets the run's freeze state. A replay's recipe (and adjust overlay) is read and checked first — relative paths are
    /// the run directory's — and the C# sources its callbacks need are brought into the run from beside the recipe.
    /// </summary>
    /// <param name="create">Make the directory (a run about to start replaying: <c>kiln launch --replay</c>).</param>
    public FreezeState SetFreeze(FreezeState state, bool create = false)
    {
        if (create) Directory.CreateDirectory(Files.Dir);
        else RequireRun();
        state.Validate();
        if (state.IsReplay)
        {
            var recipePath = Existing(state.RecipePath!, "recipe");
            var recipe = RecipeFile.Read(recipePath);
            if (state.Mode == FreezeState.ReplayAdjusted)
                AdjustOverlay.Apply(recipe, AdjustOverlay.Load(Existing(state.AdjustPath!, "adjust overlay")));
            RecipeCaptures.Import(Files, recipePath, recipe);
        }
        if (state.IsFrozen) AtomicFile.WriteJson(Files.FreezePath, state.ToJson());
        else File.Delete(Files.FreezePath);
        return state;
    }

    /// <summary>A path of the run's files, resolved from the run directory; missing, an error that says where it looked.</summary>
    private string Existing(string path, string what)
    {
        var full = Files.Resolve(path);
        if (File.Exists(full)) return full;
        throw new ProtocolException(Path.IsPathRooted(path)
            ? $"{path}: {what} not found"
            : $"{path}: {what} not found in the run directory (looked for {full}; relative paths are the run directory's)");
    }

    /// <summary>A path as stored in the run's files: relative to the run directory when inside it.</summary>
    public string RunRelative(string path)
    {
        var full = Path.GetFullPath(path);
        var rel = Path.GetRelativePath(Files.Dir, full);
        return rel.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(rel) ? full : rel;
    }

    public RunStatus Status()
    {
        RequireDir();
        var problems = new List<string>();
        FreezeState? freeze = FreezeState.Unfrozen;
        string? freezeError = null;
        if (File.Exists(Files.FreezePath))
        {
            try { freeze = FreezeState.FromJson(JsonValues.ParseDocument(File.ReadAllBytes(Files.FreezePath), "content")); }
            catch (ProtocolException ex) { freeze = null; freezeError = $"{RunFiles.Freeze}: {ex.Message}"; }
        }
        if (!RunState.TryRead(Files.Dir, out var run, out var runError, _time) && runError is not null) problems.Add(runError);
        // One streaming pass over each file; only the last line of each handle is parsed in full.
        var decided = new HashSet<string>(StringComparer.Ordinal);
        var lastLine = new Dictionary<(string, string?), byte[]>();
        long? lastStep = null;
        var ledgerLines = 0;
        if (File.Exists(Files.LedgerPath))
        {
            var torn = JsonlTail.ReadAll(Files.LedgerPath, line =>
            {
                if (line.Oversized || !LedgerHeader.TryRead(line.Bytes.Span, out var h))
                {
                    problems.Add($"{RunFiles.Ledger} line {line.Number}: not a ledger line");
                    return;
                }
                ledgerLines++;
                if (h.Cid is not null) decided.Add(h.Cid);
                if (h.Step is { } s) lastStep = Math.Max(lastStep ?? s, s);
                if (h.Module is null) return;
                lastLine[(h.Module, h.Id ?? (h.Module is "opt" or "loss" ? "main" : null))] = line.Bytes.ToArray();
            });
            if (torn > 0) problems.Add(JsonlTail.TornTail(RunFiles.Ledger, torn));
        }
        var inboxLines = 0;
        var backlog = 0;
        if (File.Exists(Files.CommandsPath))
        {
            JsonlTail.ReadAll(Files.CommandsPath, line =>
            {
                inboxLines++;
                var cid = (line.Oversized ? null : LedgerHeader.ReadCid(line.Bytes.Span)) ?? $"inbox@{line.Offset}";
                if (!decided.Contains(cid)) backlog++;
            });
        }
        var handles = lastLine
            .Select(kv => new HandleState(kv.Key.Item1, kv.Key.Item2, LedgerEntry.FromJson(JsonValues.ParseDocument(kv.Value, "ledger line"))))
            .OrderBy(h => h.Module, StringComparer.Ordinal).ThenBy(h => h.Id, StringComparer.Ordinal).ToList();
        return new RunStatus
        {
            Dir = Files.Dir,
            Freeze = freeze,
            FreezeError = freezeError,
            Run = run,
            InboxLines = inboxLines,
            Backlog = backlog,
            LedgerLines = ledgerLines,
            LastStep = lastStep,
            Handles = handles,
            Problems = problems,
        };
    }

    /// <summary>
    /// Writes the recipe of this run's ledger; returns the entries, the path written and what the export left out (the
    /// ledger's unfinished last line: a decision whose line was never completed is not a change the run recorded).
    /// </summary>
    public (List<RecipeEntry> Entries, string Path, IReadOnlyList<string> Warnings) ExportRecipe(string? outPath = null)
    {
        RequireDir();
        var problems = new List<string>();
        var warnings = new List<string>();
        var ledger = File.Exists(Files.LedgerPath)
            ? Ledger.ReadAll(Files.LedgerPath, problems, torn => warnings.Add(JsonlTail.TornTail(RunFiles.Ledger, torn)))
            : [];
        if (problems.Count > 0) throw new ProtocolException($"cannot export a lossless recipe: {string.Join("; ", problems)}");
        var recipe = RecipeFile.Export(ledger);
        var path = outPath is null ? Files.RecipePath : Path.GetFullPath(outPath);
        RecipeFile.Write(path, recipe);
        RecipeCaptures.Export(Files, path, recipe);
        return (recipe, path, warnings);
    }

    public List<string> ValidateRecipe(string? path = null) => RecipeFile.Validate(path is null ? Files.RecipePath : Path.GetFullPath(path));

    /// <summary>Writes an adjust template for a recipe; an existing file is kept unless <paramref name="overwrite"/>.</summary>
    public (int Stubs, string Path) WritePatchTemplate(string? recipePath = null, string? output = null, bool overwrite = false)
    {
        var recipeFile = recipePath is null ? Files.RecipePath : Path.GetFullPath(recipePath);
        var outFile = output is null ? Files.AdjustPath : Path.GetFullPath(output);
        var recipe = RecipeFile.Read(recipeFile);
        if (File.Exists(outFile) && !overwrite)
            throw new ProtocolException($"{outFile}: exists; it may hold your edits (pass --force to replace it)");
        var text = PatchTemplate.Generate(recipe, Path.GetFileName(recipeFile));
        AtomicFile.WriteAllText(outFile, text);
        return (recipe.Select(e => (e.Module, e.Op, e.Id)).Distinct().Count(), outFile);
    }
}
