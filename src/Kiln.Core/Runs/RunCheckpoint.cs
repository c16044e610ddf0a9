using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Runs;

/// <summary>
/// A run's checkpoint, <c>kiln.checkpoint/</c>: <c>checkpoint.json</c> (this record) and the trainer's tensors file it
/// names (<c>state-&lt;step&gt;.safetensors</c>: weights and optimizer buffers). The tensors are written first, each
/// file whole, and the record last: the record's rename commits a checkpoint, so a reader sees the old one or the new
/// one, never half of either. The record says where the run goes on: the next step, the length of
/// <c>kiln.metrics.jsonl</c> and the ledger's last <c>seq</c> when it was taken, and what the run was launched with.
/// </summary>
public sealed record RunCheckpoint
{
    public const string ManifestFile = "checkpoint.json";
    public const int Version = 1;

    /// <summary>The step the resumed run trains first (the steps before it are done).</summary>
    public required long Step { get; init; }

    public int Epoch { get; init; }

    /// <summary>The length of <c>kiln.metrics.jsonl</c> when the checkpoint was taken; a resumed run cuts the file back to it.</summary>
    public long MetricsBytes { get; init; }

    /// <summary>The ledger's last <c>seq</c> when the checkpoint was taken: every change up to it is in the state.</summary>
    public long LedgerSeq { get; init; }

    /// <summary>What the run was launched with, so <c>kiln launch --resume</c> launches the same.</summary>
    public string? Config { get; init; }
    public long Seed { get; init; }
    public long MaxSteps { get; init; }
    public JsonObject? Overrides { get; init; }
    public string? DataDir { get; init; }

    /// <summary>The tensors file in the checkpoint folder.</summary>
    public required string Tensors { get; init; }

    /// <summary>The trainer's own state: counters, dials, data order, generators.</summary>
    public required JsonObject State { get; init; }

    public double WallTime { get; init; }

    public static string ManifestPath(string runDir) => Path.Combine(new RunFiles(runDir).CheckpointPath, ManifestFile);

    public static bool Exists(string runDir) => File.Exists(ManifestPath(runDir));

    /// <summary>The run's checkpoint, or null when it has none.</summary>
    /// <exception cref="ProtocolException">The record is not a checkpoint this version reads.</exception>
    public static RunCheckpoint? Read(string runDir) => ReadFile(ManifestPath(runDir));

    /// <summary>
    /// The newest checkpoint the run still keeps (<see cref="Write"/>'s <c>keep</c>) whose step is at most
    /// <paramref name="atOrBefore"/>, or null when there is none.
    /// </summary>
    public static RunCheckpoint? ReadAt(string runDir, long atOrBefore)
    {
        var dir = new RunFiles(runDir).CheckpointPath;
        if (!Directory.Exists(dir)) return null;
        var kept = Directory.EnumerateFiles(dir, "checkpoint-*.json").Select(p => (Path: p, Step: StepOf(p, "checkpoint-", ".json"))).Where(x => x.Step is { } s && s <= atOrBefore)
            .OrderByDescending(x => x.Step).Select(x => ReadFile(x.Path)).FirstOrDefault(c => c is not null && File.Exists(Path.Combine(dir, c.Tensors)));
        if (kept is not null) return kept;
        var latest = Read(runDir);
        return latest is not null && latest.Step <= atOrBefore ? latest : null;
    }

    private static long? StepOf(string path, string prefix, string suffix)
    {
        var name = Path.GetFileName(path);
        return name.StartsWith(prefix, StringComparison.Ordinal) && name.EndsWith(suffix, StringComparison.Ordinal)
            && long.TryParse(name.AsSpan(prefix.Length, name.Length - prefix.Length - suffix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var step) ? step : null;
    }

    private static RunCheckpoint? ReadFile(string path)
    {
        JsonObject? o;
        try { o = JsonObjectFile.Read(path); }
        catch (ProtocolException ex) { throw new ProtocolException($"{path}: {ex.Message}"); }
        if (o is null) return null;
        string Key(string k) => $"{path}: {k}";
        var version = JsonValues.GetLong(o["version"], Key("version"));
        if (version != Version) throw new ProtocolException($"{path}: version {version} is not one this Kiln reads ({Version})");
        return new RunCheckpoint
        {
            Step = JsonValues.GetLong(o["step"], Key("step")),
            Epoch = checked((int)JsonValues.GetLong(o["epoch"], Key("epoch"))),
            MetricsBytes = JsonValues.GetLong(o["metrics_bytes"], Key("metrics_bytes")),
            LedgerSeq = JsonValues.GetLong(o["ledger_seq"], Key("ledger_seq")),
            Config = o["config"] is { } c ? JsonValues.GetString(c, Key("config")) : null,
            Seed = JsonValues.GetLong(o["seed"], Key("seed")),
            MaxSteps = JsonValues.GetLong(o["max_steps"], Key("max_steps")),
            Overrides = o["overrides"] is { } ov ? JsonValues.GetObject(ov, Key("overrides")) : null,
            DataDir = o["data_dir"] is { } dd ? JsonValues.GetString(dd, Key("data_dir")) : null,
            Tensors = JsonValues.GetString(o["tensors"], Key("tensors")),
            State = JsonValues.GetObject(o["state"], Key("state")),
            WallTime = o["wall_time"] is { } w ? JsonValues.GetDouble(w, Key("wall_time")) : 0,
        };
    }

    /// <summary>The tensors file's bytes.</summary>
    public byte[] ReadTensors(string runDir) => File.ReadAllBytes(Path.Combine(new RunFiles(runDir).CheckpointPath, Tensors));

    /// <summary>
    /// Writes the tensors, then this record (which commits), then removes the checkpoints beyond the newest
    /// <paramref name="keep"/>. With <paramref name="keep"/> above 1 each kept one also has its own record,
    /// <c>checkpoint-&lt;step&gt;.json</c>, for <see cref="ReadAt"/> (a rollback to the last healthy one).
    /// </summary>
    public void Write(string runDir, ReadOnlySpan<byte> tensors, int keep = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keep, 1);
        var dir = new RunFiles(runDir).CheckpointPath;
        Directory.CreateDirectory(dir);
        AtomicFile.WriteAllBytes(Path.Combine(dir, Tensors), tensors);
        if (keep > 1) AtomicFile.WriteJson(Path.Combine(dir, $"checkpoint-{Step.ToString(CultureInfo.InvariantCulture)}.json"), ToJson());
        AtomicFile.WriteJson(Path.Combine(dir, ManifestFile), ToJson());
        var stale = Directory.EnumerateFiles(dir, "state-*.safetensors").Select(p => (Path: p, Step: StepOf(p, "state-", ".safetensors") ?? long.MinValue))
            .Concat(Directory.EnumerateFiles(dir, "checkpoint-*.json").Select(p => (Path: p, Step: StepOf(p, "checkpoint-", ".json") ?? long.MinValue)))
            .Where(x => x.Step != Step)
            .GroupBy(x => x.Step).OrderByDescending(g => g.Key).Skip(keep - 1).SelectMany(g => g);
        foreach (var (old, _) in stale)
        {
            try { File.Delete(old); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { /* left for the next checkpoint to remove */ }
        }
    }

    /// <summary>The tensors file name of a checkpoint at <paramref name="step"/>.</summary>
    public static string TensorsFileAt(long step) => $"state-{step.ToString(CultureInfo.InvariantCulture)}.safetensors";

    public JsonObject ToJson() => new()
    {
        ["version"] = Version, ["step"] = Step, ["epoch"] = Epoch, ["metrics_bytes"] = MetricsBytes, ["ledger_seq"] = LedgerSeq,
        ["config"] = Config, ["seed"] = Seed, ["max_steps"] = MaxSteps, ["overrides"] = Overrides?.DeepClone(),
        ["data_dir"] = DataDir,
        ["tensors"] = Tensors, ["wall_time"] = WallTime, ["state"] = State.DeepClone(),
    };
}
