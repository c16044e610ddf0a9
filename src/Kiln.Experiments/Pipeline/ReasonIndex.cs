using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Experiments.Caching;

namespace Kiln.Experiments.Pipeline;

/// <summary>
/// What each stage of each parameter set was last computed from (params hash, code hash, input versions), kept in
/// <c>{cache}/.last/</c>, so a stage that must run can say why: its code, its params or its input data changed, or it
/// is new. It explains; it never decides — the key alone decides what runs.
/// </summary>
internal sealed class ReasonIndex(ArtifactStore store)
{
    private string PathFor(StageNode node)
    {
        var label = node.Record.IsAggregate ? "aggregate" : node.Record.Params?.Name ?? "None";
        var safe = string.Concat(label.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
        return Path.Combine(store.Directory, ".last", $"{store.Prefix}_{node.Stage.Name}_{safe}.json");
    }

    public string Why(StageNode node, List<(string Name, object Version)> versions)
    {
        JsonObject? last;
        try
        {
            last = File.Exists(PathFor(node)) ? JsonNode.Parse(File.ReadAllBytes(PathFor(node))) as JsonObject : null;
        }
        catch (Exception ex) when (ex is IOException or JsonException)
        {
            last = null;
        }
        if (last is null) return RunReasons.New;
        var why = new List<string>();
        if (last["code_hash"]?.GetValue<string>() != node.CodeHash) why.Add(RunReasons.Code);
        if (last["params_hash"]?.GetValue<string>() != node.Record.Hash) why.Add(RunReasons.Params);
        if (last["inputs"]?.ToJsonString() != Inputs(versions).ToJsonString()) why.Add(RunReasons.InputData);
        return why.Count == 0 ? RunReasons.Missing : string.Join(", ", why);
    }

    public void Remember(StageNode node)
    {
        if (store.ReadOnly || node.Key is null) return;
        var versions = node.InputVersions ?? [];
        var o = new JsonObject
        {
            ["key"] = node.Key,
            ["code_hash"] = node.CodeHash,
            ["params_hash"] = node.Record.Hash,
            ["inputs"] = Inputs(versions),
        };
        AtomicFile.WriteJson(PathFor(node), o, durable: false);
    }

    private static JsonObject Inputs(List<(string Name, object Version)> versions)
    {
        var o = new JsonObject();
        foreach (var (name, v) in versions)
            o[name] = v is string s ? s : string.Join(",", (IEnumerable<string>)v);
        return o;
    }
}
