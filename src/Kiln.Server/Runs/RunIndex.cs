using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;
using Kiln.Registry.Records;
using Kiln.Runs;
using Kiln.Server.Security;

namespace Kiln.Server.Runs;

/// <summary>
/// The run directories under the served root — launch runs, demos, trials (run or not yet) — found by
/// <see cref="RunDirectories.Walk"/>. In a workspace, a run that has ended is summarized from the registry's record of it
/// (<see cref="RegistryRuns"/>); a running, pending or unrecorded run — or one whose files changed since it was
/// recorded — from its <c>kiln.run.json</c>, <c>kiln.trial.json</c> and, for live runs, the tail of
/// <c>kiln.metrics.jsonl</c>. Summaries are cached by file stamp and the walk is repeated at most every
/// <see cref="RescanInterval"/>, so listing 10,000 runs stays cheap.
/// Only directories in the index can be read through the server, and only while none of the files the server reads or
/// writes in them is a symbolic link leading out of the root (<see cref="Refusal"/>).
/// </summary>
public sealed class RunIndex
{
    private const string Unknown = "unknown";

    /// <summary>Every file of a run directory the server reads or writes (Kiln.Core's readers included).</summary>
    private static readonly string[] ServedFiles =
    [
        RunFiles.Run, RunFiles.Metrics, RunFiles.Ledger, RunFiles.Actuators, RunFiles.Freeze, RunFiles.Commands,
        JsonlFile.LockPathFor(RunFiles.Commands), KilnRun.LockFile, RunFiles.Trial, RunFiles.BatchLog, RunFiles.EpochLog,
        RunFiles.Autopilot, JsonlFile.LockPathFor(RunFiles.Autopilot), RunFiles.AutopilotState, RunFiles.AutopilotAi,
    ];

    /// <summary>The files a summary is read from: checked when a run is listed, the others when it is asked for.</summary>
    private static readonly string[] SummaryFiles = [RunFiles.Run, RunFiles.Metrics, RunFiles.Trial, KilnRun.LockFile, RunFiles.KernelLock];

    private readonly ConcurrentDictionary<string, (FileStamp Run, FileStamp Metrics, int Registry, RunSummary Summary)> _cache = new(StringComparer.Ordinal);
    private readonly object _scanGate = new();
    private readonly object _listGate = new();
    private List<RunSummary>? _list;
    private Dictionary<string, string>? _listDirs;
    private long _listedAt;
    private readonly TimeProvider _time;
    private readonly RegistryRuns _registry;
    private Dictionary<string, string> _dirs = new(StringComparer.Ordinal);
    private long _scannedAt = long.MinValue;

    public RunIndex(string root, TimeProvider? time = null)
    {
        Root = Path.GetFullPath(root);
        Confinement = new Confinement(Root);
        _time = time ?? TimeProvider.System;
        _registry = new RegistryRuns(Root, Confinement);
    }

    public string Root { get; }

    /// <summary>What the server may touch: the root, links resolved.</summary>
    public Confinement Confinement { get; }

    public TimeSpan RescanInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Every run, summarized. The list is rebuilt at most every <see cref="RescanInterval"/> (each summary cached
    /// until its files change), so paging and sorting through 10,000 runs does not look at 30,000 files each time.
    /// </summary>
    public IReadOnlyList<RunSummary> All()
    {
        lock (_listGate)
        {
            var dirs = Directories(forceScan: false);
            var now = _time.GetTimestamp();
            if (_list is not null && ReferenceEquals(_listDirs, dirs) && _time.GetElapsedTime(_listedAt, now) < RescanInterval) return _list;
            var list = new List<RunSummary>(dirs.Count);
            var recorded = _registry.ByDir();
            foreach (var (id, dir) in dirs) list.Add(Summarize(id, dir, recorded));
            (_list, _listDirs, _listedAt) = (list, dirs, now);
            return list;
        }
    }

    public RunSummary? Get(string id) => TryResolve(id, out var dir) ? Summarize(id, dir, _registry.ByDir()) : null;

    /// <summary>The directory of a run id (its path under the root, with '/'), if it is an indexed run directory.</summary>
    public bool TryResolve(string? id, out string dir)
    {
        dir = "";
        if (string.IsNullOrEmpty(id) || id.Contains('\\', StringComparison.Ordinal) || id.Contains('\0', StringComparison.Ordinal)) return false;
        if (Directories(forceScan: false).TryGetValue(id, out var found) || Directories(forceScan: true).TryGetValue(id, out found))
        {
            dir = found;
            return true;
        }
        return false;
    }

    /// <summary>
    /// Why the server must not read the run directory (one of its files, or the directory itself, is a symbolic link
    /// leading out of the root), or null when it may. Asked on every request, so a link made later is refused too.
    /// </summary>
    public string? Refusal(string dir) =>
        !Confinement.Holds(dir) ? "its directory leads outside the served directory through a symbolic link" : LinkedOut(dir, ServedFiles);

    private string? LinkedOut(string dir, string[] names) =>
        Confinement.LinkOut(dir, names) is { } name
            ? $"{name} is a symbolic link leading outside the served directory, and the dashboard does not follow it"
            : null;

    private Dictionary<string, string> Directories(bool forceScan)
    {
        lock (_scanGate)
        {
            var now = _time.GetTimestamp();
            if (!forceScan && _time.GetElapsedTime(_scannedAt, now) < RescanInterval && _scannedAt != long.MinValue) return _dirs;
            var found = RunDirectories.Walk(Root);
            _dirs = found;
            _scannedAt = now;
            foreach (var stale in _cache.Keys.Where(k => !found.ContainsKey(k)).ToList()) _cache.TryRemove(stale, out _);
            return _dirs;
        }
    }

    private RunSummary Summarize(string id, string dir, IReadOnlyDictionary<string, RunRecord> recorded)
    {
        var runStamp = FileStamp.Of(Path.Combine(dir, RunFiles.Run));
        var registry = _registry.Version;
        // An ended run whose record is newer than its files is listed from the record: none of its files is read.
        if (recorded.TryGetValue(id, out var record) && RegistryRuns.Current(record, runStamp))
        {
            if (_cache.TryGetValue(id, out var held) && held.Run == runStamp && held.Registry == registry) return held.Summary;
            var listed = new RunSummary(id, dir, record.Kind, record.Config, record.Status, record.Start, record.End,
                record.Params, record.Swept, record.Metrics, record.Error);
            _cache[id] = (runStamp, default, registry, listed);
            return listed;
        }
        var metricsStamp = FileStamp.Of(Path.Combine(dir, RunFiles.Metrics));
        // A running run's process can die without touching its files, and a loop's kernel can start or stop without
        // writing any: their liveness is checked again on every look.
        if (_cache.TryGetValue(id, out var c) && c.Run == runStamp && c.Metrics == metricsStamp && c.Registry == NotFromRegistry
            && (c.Summary.Status switch
            {
                RunInfo.Running => RunState.Read(dir)?.Status == RunInfo.Running,
                Unknown => !File.Exists(Path.Combine(dir, RunFiles.KernelLock)),
                _ => true,
            })) return c.Summary;
        RunSummary summary;
        try
        {
            // The walk reached the directory through no link: only the files a summary reads are looked at.
            summary = LinkedOut(dir, SummaryFiles) is { } refused
                ? new RunSummary(id, dir, "run", null, Unknown, null, null, null, null, null, refused)
                : Read(id, dir);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // One run that cannot be read is listed as such; the others are listed as ever.
            summary = new RunSummary(id, dir, "run", null, Unknown, null, null, null, null, null, $"cannot read the run's files: {ex.Message}");
        }
        _cache[id] = (runStamp, metricsStamp, NotFromRegistry, summary);
        return summary;
    }

    /// <summary>The registry version of a cached summary read from the run's files.</summary>
    private const int NotFromRegistry = -1;

    private static RunSummary Read(string id, string dir)
    {
        var info = RunState.Read(dir);
        JsonObject? swept = null;
        var trialFile = Path.Combine(dir, RunFiles.Trial);
        if (File.Exists(trialFile))
        {
            try { swept = JsonNode.Parse(File.ReadAllText(trialFile))?["swept"] as JsonObject; }
            catch (System.Text.Json.JsonException) { }
        }
        var status = info?.Status ?? (swept is not null ? "pending" : Unknown);
        var metrics = status == RunInfo.Running || info?.Metrics is null ? LatestMetrics(Path.Combine(dir, RunFiles.Metrics)) ?? info?.Metrics : info.Metrics;
        return new RunSummary(id, dir, info?.Kind ?? (swept is not null ? "trial" : "run"), info?.Config, status, info?.Start, info?.End,
            info?.Params, swept, metrics, info?.Error);
    }

    /// <summary>The last value of each metric in the final part of a metrics file.</summary>
    private static JsonObject? LatestMetrics(string path)
    {
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var take = (int)Math.Min(fs.Length, 32 * 1024);
            fs.Seek(-take, SeekOrigin.End);
            var bytes = new byte[take];
            fs.ReadExactly(bytes);
            var latest = new JsonObject();
            foreach (var line in System.Text.Encoding.UTF8.GetString(bytes).Split('\n'))
            {
                if (line.Length == 0 || line[0] != '{') continue;
                try
                {
                    if (JsonNode.Parse(line)?["metrics"] is JsonObject m)
                        foreach (var (k, v) in m) latest[k] = v?.DeepClone();
                }
                catch (System.Text.Json.JsonException)
                {
                    // The first line of the window is usually cut; torn lines are skipped.
                }
            }
            return latest.Count > 0 ? latest : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
