using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.Experiments.Caching;
using Kiln.Experiments.Hashing;
using Kiln.Experiments.Reporting;

namespace Kiln.Experiments.Pipeline;

/// <summary>
/// Works out stage keys and runs stages. A key covers the stage (name, outputs, cachers), the record's parameter
/// hash, the data version of every input and the stage's code (<see cref="CodeHasher"/>), each part typed and
/// length-prefixed (<see cref="Fingerprint"/>). Keys chain through data versions — content hashes — not through
/// upstream keys, so an upstream stage that re-runs and produces the same bytes leaves its consumers cached.
/// </summary>
internal sealed class StageRunner(ExperimentManager manager)
{
    private readonly ArtifactStore _store = manager.Store;
    private readonly ReasonIndex _reasons = new(manager.Store);

    /// <summary>The node whose body is running (its reportables and output paths belong to it).</summary>
    public StageNode? Current { get; private set; }

    public void Evaluate(StageNode node, bool mapOnly)
    {
        var versions = InputVersions(node, mapOnly);
        if (versions is null)
        {
            node.Status = StageStatus.Pending;
            node.Reason = RunReasons.Upstream;
            return;
        }
        node.Key = Key(node, versions);
        node.InputVersions = versions;
        var options = manager.Options;
        node.Forced = node.Forced || options.Overwrite || node.Record.Params?.Overwrite == true || node.Record.InputRecords.Any(r => r.Params?.Overwrite == true) && node.Stage.IsAggregate
            || options.OverwriteStages.Contains(node.Stage.Name);
        if (node.OutputNames.Count == 0)
        {
            Set(node, StageStatus.Run, RunReasons.NoOutputs);
            return;
        }
        if (node.Forced)
        {
            Set(node, StageStatus.Run, RunReasons.Overwrite);
            return;
        }
        var all = true;
        var present = true;
        for (var i = 0; i < node.Outputs.Length; i++)
        {
            var m = _store.ReadMetadata(node.Key, node.Stage.Name, node.OutputNames[i]);
            node.Outputs[i].Metadata = m;
            node.Outputs[i].Version = m?.Version;
            if (m is null) all = false;
            else if (node.Cachers[i] is not { } c || !c.Present(node.ArtifactPath(i)!, m)) present = false;
        }
        if (!all) Set(node, StageStatus.Run, _reasons.Why(node, versions));
        else if (present) Set(node, StageStatus.Cached, null);
        else Set(node, StageStatus.Known, node.HasCachers ? RunReasons.Missing : RunReasons.NoCacher);
        if (node.Status is StageStatus.Cached or StageStatus.Known) LoadReportables(node);
    }

    private static void Set(StageNode node, StageStatus status, string? reason)
    {
        node.Status = status;
        node.Reason = reason;
    }

    /// <summary>Each input's data version (aggregates: per record), or null when one is not known yet (map pass).</summary>
    private List<(string Name, object Version)>? InputVersions(StageNode node, bool mapOnly)
    {
        var list = new List<(string, object)>();
        foreach (var input in node.Inputs)
        {
            if (input.PerRecord is { } per)
            {
                var versions = new List<(string, string)>();
                foreach (var (record, producer, index) in per)
                {
                    if (Version(producer, index, mapOnly, node, input.Name) is not { } v) return null;
                    versions.Add((record.Hash, v));
                }
                list.Add((input.Name, versions.OrderBy(v => v.Item1, StringComparer.Ordinal).ThenBy(v => v.Item2, StringComparer.Ordinal).Select(v => v.Item1 + ":" + v.Item2).ToList()));
            }
            else if (input.Producer is { } p)
            {
                if (Version(p, input.Index, mapOnly, node, input.Name) is not { } v) return null;
                list.Add((input.Name, v));
            }
            else
            {
                list.Add((input.Name, Fingerprint.Of(input.Value, $"stage {node.Stage.Name}: input '{input.Name}' ({input.ValueOrigin})", manager.Code.Of)));
            }
        }
        return list;
    }

    private string? Version(StageNode producer, int index, bool mapOnly, StageNode consumer, string input)
    {
        var slot = producer.Outputs[index];
        if (slot.Version is null && !mapOnly && producer.Status is StageStatus.Run or StageStatus.Pending)
        {
            if (producer.Status == StageStatus.Pending) Evaluate(producer, mapOnly: false);
            if (producer.Status == StageStatus.Run) Execute(producer);
        }
        if (slot.Version is null && slot.HasValue)
        {
            try
            {
                slot.Version = Fingerprint.Of(slot.Value, $"output '{producer.OutputNames[index]}' of stage {producer.Stage.Name}", manager.Code.Of);
            }
            catch (FingerprintException ex)
            {
                throw Fail(consumer, $"its input '{input}' has no data version: {ex.Message}; give stage {producer.Stage.Name} a cacher for it");
            }
        }
        if (slot.Version is null && slot.VersionError is { } why) throw Fail(consumer, why);
        return slot.Version;
    }

    private string Key(StageNode node, List<(string Name, object Version)> versions)
    {
        var f = new Fingerprint(manager.Code.Of);
        f.AddString("kiln-stage-key/1");
        f.AddString(node.Stage.IsAggregate ? "aggregate" : "stage");
        f.AddString(node.Stage.Name);
        f.AddString(node.Record.Params?.Hash ?? "None");
        f.Add(node.OutputNames, "outputs");
        f.Add(node.Cachers.Select(c => c?.Kind ?? "none").ToList(), "cachers");
        node.CodeHash ??= manager.Code.Of(node.Method);
        f.AddString(node.CodeHash);
        // A lambda's captured variables are part of what it computes.
        if (node.Body.Target is { } target) f.AddCaptured(target, $"stage {node.Stage.Name}");
        else f.Add(null, "target");
        f.Add(versions.Count, "inputs");
        foreach (var (name, version) in versions)
        {
            f.AddString(name);
            f.Add(version, name);
        }
        if (node.Aggregated is { } records) f.Add(records.Select(r => r.Hash).Order(StringComparer.Ordinal).ToList(), "aggregated records");
        return f.Hex();
    }

    public void Execute(StageNode node)
    {
        if (node.Status is StageStatus.Executed or StageStatus.Failed) return;
        if (node.Key is null) Evaluate(node, mapOnly: false);
        using var held = node.HasCachers ? _store.Lock(node.Key!, node.Stage.Name) : null;
        // Another process may have computed it while this one waited for the lock.
        if (held is not null && !node.Forced && node.Status != StageStatus.Cached)
        {
            Evaluate(node, mapOnly: false);
            if (node.Status == StageStatus.Cached) return;
        }
        var args = new List<object?> { node.Record };
        if (node.Aggregated is { } records) args.Add(records.ToList());
        foreach (var input in node.Inputs) args.Add(Argument(node, input));
        var previous = Current;
        Current = node;
        node.Reportables.Clear();
        var clock = Stopwatch.StartNew();
        object? result;
        try
        {
            manager.Log(LogLevel.Info, $"{node.Record.ReferenceName}: running {node.Stage.Name}{(node.Reason is null ? "" : $" ({node.Reason})")}");
            result = node.Method.IsStatic && node.Body.Target is null ? node.Method.Invoke(null, [.. args]) : node.Body.DynamicInvoke([.. args]);
        }
        catch (Exception ex)
        {
            throw Fail(node, ExperimentManager.Unwrap(ex).Message, ExperimentManager.Unwrap(ex));
        }
        finally
        {
            Current = previous;
        }
        node.Duration = clock.Elapsed;
        var values = Split(node, result);
        try
        {
            Save(node, values);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException or InvalidOperationException or JsonException)
        {
            throw Fail(node, $"could not save its outputs: {ex.Message}", ex);
        }
        node.Status = StageStatus.Executed;
    }

    private StageFailedException Fail(StageNode node, string error, Exception? cause = null)
    {
        node.Status = StageStatus.Failed;
        node.Error = error;
        manager.Log(LogLevel.Error, $"{node.Record.ReferenceName}: stage {node.Stage.Name} failed: {error}");
        var failed = new StageFailedException(node);
        if (cause is not null) failed.Data["cause"] = cause.ToString();
        return failed;
    }

    private object? Argument(StageNode node, InputBinding input)
    {
        if (input.PerRecord is { } per)
        {
            var dict = (System.Collections.IDictionary)Activator.CreateInstance(typeof(Dictionary<,>).MakeGenericType(typeof(Record), input.Type))!;
            foreach (var (record, producer, index) in per) dict[record] = Load(producer, index);
            return dict;
        }
        if (input.Producer is not { } p) return input.Value;
        // A parameter typed LazyArtifact receives the reference, unloaded.
        if (input.Type == typeof(LazyArtifact)) return new LazyArtifact(p, input.Index);
        if (p.Status == StageStatus.Failed) throw Fail(node, $"input '{input.Name}' comes from stage {p.Stage.Name}, which failed");
        return Load(p, input.Index);
    }

    private static object?[] Split(StageNode node, object? result)
    {
        var n = node.OutputNames.Count;
        if (n == 0) return [];
        if (n == 1) return [result];
        var tuple = (ITuple)result!;
        return [.. Enumerable.Range(0, tuple.Length).Select(i => tuple[i])];
    }

    private void Save(StageNode node, object?[] values)
    {
        var inputs = new JsonObject();
        foreach (var input in node.Inputs) inputs[input.Name] = input.Describe();
        for (var i = 0; i < values.Length; i++)
        {
            var slot = node.Outputs[i];
            var name = node.OutputNames[i];
            slot.Value = values[i];
            slot.HasValue = true;
            slot.Version = null;
            slot.VersionError = null;
            ArtifactMetadata? meta = null;
            if (node.Cachers[i] is { } cacher && !_store.ReadOnly)
            {
                var saved = cacher.Save(node.ArtifactPath(i)!, values[i], node.OutputTypes[i]);
                meta = Metadata(node, i, saved.Version, saved.Length, cacher.Kind, saved.Files);
            }
            else
            {
                try
                {
                    var version = Fingerprint.Of(values[i], $"output '{name}' of stage {node.Stage.Name}", manager.Code.Of);
                    meta = Metadata(node, i, version, -1, null, null);
                }
                catch (FingerprintException ex)
                {
                    slot.VersionError = ex.Message;
                }
            }
            if (meta is not null)
            {
                slot.Version = meta.Version;
                slot.Metadata = meta;
                _store.WriteMetadata(node.Key!, node.Stage.Name, name, meta);
            }
            // A lazy output leaves memory once saved; it is read back from its file when used.
            if (node.LazyOutputs[i] && node.Cachers[i] is not null && !_store.ReadOnly)
            {
                slot.Value = null;
                slot.HasValue = false;
            }
            node.Record.SetOutput(name, node, i);
        }
        SaveReportables(node);
        _reasons.Remember(node);
    }

    private ArtifactMetadata Metadata(StageNode node, int i, string version, long length, string? cacher, IReadOnlyDictionary<string, string>? files)
    {
        var p = node.Record.Params;
        var extra = new JsonObject
        {
            ["artifact_generated"] = DateTimeOffset.UtcNow.ToString("o"),
            ["params_hash"] = node.Record.Hash,
            ["params_name"] = p?.Name,
            ["record_name"] = node.Record.ReferenceName,
            ["stage"] = node.Stage.Name,
            ["artifact_name"] = node.OutputNames[i],
            ["code_hash"] = node.CodeHash,
            ["record_prior_stages"] = new JsonArray([.. node.Record.Nodes.TakeWhile(n => n != node).Select(n => (JsonNode)n.Stage.Name)]),
            ["prior_records"] = new JsonArray([.. node.Record.InputRecords.Select(r => (JsonNode)r.ReferenceName)]),
            ["params"] = p is null ? null : JsonSerializer.SerializeToNode(p, p.GetType(), JsonCacher.Options),
            ["manager_run_info"] = new JsonObject { ["reference"] = manager.Options.RunReference, ["experiment_name"] = manager.ExperimentName },
            ["preview"] = Preview(node.Outputs[i].Value),
        };
        return new ArtifactMetadata { StageKey = node.Key!, Version = version, Length = length, CacherType = cacher, Files = files, Reportables = node.Reportables.Count, Extra = extra };
    }

    private static string Preview(object? value)
    {
        var text = value?.ToString() ?? "null";
        if (text.Length > 30) text = text[..30] + "...";
        var size = value switch { Array a => $" len:{a.Length}", System.Collections.ICollection c => $" len:{c.Count}", _ => "" };
        return $"({value?.GetType().Name ?? "null"}) {text}{size}";
    }

    public object? Load(StageNode node, int index)
    {
        var slot = node.Outputs[index];
        if (slot.HasValue) return slot.Value;
        if (node.Status == StageStatus.Cached && node.Cachers[index] is { } cacher && slot.Metadata is { } meta)
        {
            try
            {
                return cacher.Load(node.ArtifactPath(index)!, node.OutputTypes[index], meta);
            }
            catch (CorruptArtifactException ex)
            {
                manager.Log(LogLevel.Warning, $"{ex.Message}; recomputing stage {node.Stage.Name} for {node.Record.ReferenceName}");
                node.Forced = true;
                node.Status = StageStatus.Run;
                node.Reason = RunReasons.Corrupt;
            }
        }
        if (node.Status == StageStatus.Known)
        {
            node.Status = StageStatus.Run;
            node.Reason ??= RunReasons.Needed;
        }
        if (node.Status is StageStatus.Run or StageStatus.Pending) Execute(node);
        if (node.Status == StageStatus.Failed) throw new StageFailedException(node);
        if (slot.HasValue) return slot.Value;
        // A lazy output was saved and let go: read it back (verified).
        return ReadBack(node, index);
    }

    private static object? ReadBack(StageNode node, int index) =>
        node.Cachers[index]!.Load(node.ArtifactPath(index)!, node.OutputTypes[index], node.Outputs[index].Metadata!);

    private void SaveReportables(StageNode node)
    {
        if (_store.ReadOnly || node.Reportables.Count == 0) return;
        var list = new JsonArray([.. node.Reportables.Select(r => (JsonNode)r.ToJson())]);
        Kiln.IO.AtomicFile.WriteJson(_store.Base(node.Key!, node.Stage.Name) + "_reportables.json", list, durable: false);
    }

    /// <summary>A cached stage's reportables, reloaded (a cached re-run does not double them).</summary>
    private void LoadReportables(StageNode node)
    {
        if (node.Outputs.FirstOrDefault()?.Metadata is not { Reportables: > 0 }) return;
        var path = _store.Base(node.Key!, node.Stage.Name) + "_reportables.json";
        node.Reportables.Clear();
        try
        {
            if (JsonNode.Parse(File.ReadAllBytes(path)) is JsonArray list)
                node.Reportables.AddRange(list.OfType<JsonObject>().Select(RenderedReportable.FromJson));
        }
        catch (Exception ex) when (ex is IOException or JsonException)
        {
            manager.Log(LogLevel.Warning, $"{path}: cannot be read ({ex.Message}); stage {node.Stage.Name}'s reportables are missing from this report");
        }
    }
}
