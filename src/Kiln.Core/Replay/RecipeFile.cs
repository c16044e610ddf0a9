using System.Text;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Replay;

/// <summary>Reading, checking, writing and exporting recipes (<c>kiln.recipe.jsonl</c>).</summary>
public static class RecipeFile
{
    /// <summary>Reads a recipe; the first bad line is an error naming the file and the line.</summary>
    public static List<RecipeEntry> Read(string path)
    {
        if (!File.Exists(path)) throw new ProtocolException($"{path}: recipe not found");
        var entries = new List<RecipeEntry>();
        ProtocolException? first = null;
        JsonlTail.ReadAll(path, line =>
        {
            if (first is not null) return;
            try { entries.Add(ParseLine(line)); }
            catch (ProtocolException ex) { first = new ProtocolException($"{path} line {line.Number}: {ex.Message}"); }
        });
        if (first is not null) throw first;
        return entries;
    }

    /// <summary>Checks every line; returns one message per problem (empty when the recipe is valid).</summary>
    public static List<string> Validate(string path)
    {
        var problems = new List<string>();
        if (!File.Exists(path))
        {
            problems.Add($"{path}: recipe not found");
            return problems;
        }
        var tail = new JsonlTail(path);
        var lines = new List<JsonlLine>();
        while (tail.Poll(lines) > 0)
        {
            foreach (var line in lines)
            {
                try { ParseLine(line); }
                catch (ProtocolException ex) { problems.Add($"{path} line {line.Number}: {ex.Message}"); }
            }
        }
        if (tail.PendingBytes > 0) problems.Add($"{path}: the last line has no newline (torn write?)");
        return problems;
    }

    private static RecipeEntry ParseLine(JsonlLine line)
    {
        if (line.Oversized) throw new ProtocolException($"line of {line.Length} bytes exceeds the limit of {JsonlFile.MaxLineBytes} bytes");
        return RecipeEntry.FromJson(JsonValues.ParseDocument(line.Bytes.Span, "line"));
    }

    public static void Write(string path, IEnumerable<RecipeEntry> entries)
    {
        var sb = new StringBuilder();
        foreach (var e in entries) sb.Append(e.ToJson().ToJsonString()).Append('\n');
        AtomicFile.WriteAllText(path, sb.ToString());
    }

    /// <summary>
    /// The recipe of a ledger: every applied change to a module other than core (cb, opt, loss, or one plugged in), in ledger order, with the values as
    /// applied (for a partial <c>set_params</c>, only the keys that took effect). The run's baseline (what
    /// <c>kiln.yaml</c> and the trainer set up before the first safe point) is not a change and stays out.
    /// </summary>
    public static List<RecipeEntry> Export(IEnumerable<LedgerEntry> ledger)
    {
        var recipe = new List<RecipeEntry>();
        foreach (var e in ledger)
        {
            // A change made again after a resume (source resume) repeats a line the ledger already holds.
            if (e.Source != Sources.Resume && Entry(e) is { } entry) recipe.Add(entry);
        }
        return recipe;
    }

    /// <summary>
    /// The change one ledger line made, as a recipe entry; null for a line that made none (not applied, the kernel's own
    /// control, the baseline).
    /// </summary>
    public static RecipeEntry? Entry(LedgerEntry e)
    {
        if (e.Decision != Decision.Applied || e.Module is null || e.Op is null) return null;
        if (!RecipeEntry.Replayable(e.Module, e.Op)) return null;
        if (e.Step is null || e.Event is null || e.Event == KernelEvents.Start) return null;
        var p = e.Payload;
        return e.Op switch
        {
            "load" => new RecipeEntry
            {
                Step = e.Step.Value, Event = e.Event, Module = e.Module, Op = e.Op, Id = e.Id,
                Target = p?["target"] is { } t ? CallbackTarget.FromJson(t, "payload.target") : null,
                Init = p?["init"] as System.Text.Json.Nodes.JsonObject is { } init ? (System.Text.Json.Nodes.JsonObject)init.DeepClone() : null,
                Enabled = p?["enabled"] is { } en ? JsonValues.GetBool(en, "payload.enabled") : null,
                TimeBudgetS = p?["time_budget_s"] is { } tb ? JsonValues.GetDouble(tb, "payload.time_budget_s") : null,
                SourceCapture = p?["source_capture"] is { } sc ? SourceCapture.FromJson(sc, "payload.source_capture") : null,
            },
            "set_params" => new RecipeEntry
            {
                Step = e.Step.Value, Event = e.Event, Module = e.Module, Op = e.Op, Id = e.Id,
                Params = (System.Text.Json.Nodes.JsonObject?)p?.DeepClone() ?? [],
            },
            // The checkpoint the run went back to, exactly: the replayed run keeps the same ones.
            Kernel.CoreModule.RestoreCheckpoint => new RecipeEntry
            {
                Step = e.Step.Value, Event = e.Event, Module = e.Module, Op = e.Op, Id = e.Id,
                Params = p?["restored_step"] is { } r ? new System.Text.Json.Nodes.JsonObject { ["at_or_before"] = JsonValues.GetLong(r, "payload.restored_step") } : null,
            },
            // Other ops replay with what they applied (tune's mutate and verdict carry their segment).
            _ => new RecipeEntry { Step = e.Step.Value, Event = e.Event, Module = e.Module, Op = e.Op, Id = e.Id, Params = (System.Text.Json.Nodes.JsonObject?)p?.DeepClone() },
        };
    }
}
