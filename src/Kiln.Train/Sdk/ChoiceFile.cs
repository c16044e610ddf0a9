using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Runs;

namespace Kiln.Train.Sdk;

/// <summary>
/// <c>kiln.choice.json</c>: what the parent of a trial decided once it saw the child's <c>kiln.model.json</c> —
/// the weights to load (<c>{"weights": "/abs/path.safetensors", "id": "&lt;run id&gt;"}</c>) or why there are none
/// (<c>{"error": "no model was trained with this architecture"}</c>). The parent writes it whole (write and rename).
/// </summary>
internal sealed record ChoiceFile(string? Weights, string? Id, string? Error)
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);

    /// <summary>Reads a choice; a relative <c>weights</c> path is relative to the run directory.</summary>
    /// <exception cref="KilnSdkException">The file is not a choice.</exception>
    public static ChoiceFile Parse(ReadOnlySpan<byte> utf8, RunFiles files)
    {
        var path = Path.Combine(files.Dir, RunFiles.Choice);
        try
        {
            var node = JsonValues.ParseDocument(utf8, path);
            var obj = node as JsonObject ?? throw new ProtocolException($"{path}: expected a JSON object, got {JsonValues.Show(node)}");
            var error = JsonValues.GetOptionalString(obj, "error", path + ": ");
            var weights = JsonValues.GetOptionalString(obj, "weights", path + ": ");
            var id = JsonValues.GetOptionalString(obj, "id", path + ": ");
            if (error is not null) return new ChoiceFile(null, id, error);
            if (string.IsNullOrWhiteSpace(weights))
                throw new ProtocolException($"{path}: holds neither \"weights\" (the file to load) nor \"error\" (why there is none)");
            return new ChoiceFile(files.Resolve(weights), id, null);
        }
        catch (ProtocolException ex)
        {
            throw new KilnSdkException(ex.Message, ex);
        }
    }

    /// <summary>
    /// Waits for the parent's choice, looking every 20 ms, and gives up when the parent is gone, when the process is asked
    /// to stop, or after <paramref name="timeout"/>, each with a message that says so.
    /// </summary>
    /// <param name="parentPid">The parent (<c>KILN_PARENT_PID</c>); when null, a change of this process's parent
    /// (<paramref name="parentAtStart"/>, re-parented when it died) tells the same.</param>
    public static ChoiceFile Wait(RunFiles files, int? parentPid, int parentAtStart, TimeSpan timeout, TimeProvider time)
    {
        var path = Path.Combine(files.Dir, RunFiles.Choice);
        var started = time.GetTimestamp();
        for (;;)
        {
            // The file first: a parent that wrote its choice and then ended still chose.
            if (TryRead(path) is { } bytes) return Parse(bytes, files);
            // A program that handles stop signals itself (it holds a KilnRun) is not left waiting by them.
            if (StopSignals.Installed is { StopRequested: true } stop)
                throw new KilnSdkException($"stopped ({stop.Reason}) while waiting for the choice of weights in {path}");
            if (ParentGone(parentPid, parentAtStart) is { } gone)
                throw new KilnSdkException($"{gone}, so no weights will be chosen for this trial ({path} was never written)");
            if (time.GetElapsedTime(started) >= timeout)
                throw new KilnSdkException(
                    $"no choice of weights arrived in {path} within {timeout.TotalSeconds:0.###} s " +
                    $"(set {ChildEnvironment.ChoiceTimeoutVariable} to wait longer; run trials with kiln trial)");
            Task.Delay(PollInterval, time).GetAwaiter().GetResult();
        }
    }

    private static byte[]? TryRead(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
    }

    private static string? ParentGone(int? parentPid, int parentAtStart)
    {
        if (parentPid is { } pid) return Processes.IsAlive(pid) ? null : $"the parent process (pid {pid}, {ChildEnvironment.ParentPidVariable}) is gone";
        if (parentAtStart <= 1) return null;
        var now = Processes.ParentId();
        return now == parentAtStart || now == 0 ? null : $"the parent process (pid {parentAtStart}) is gone";
    }
}
