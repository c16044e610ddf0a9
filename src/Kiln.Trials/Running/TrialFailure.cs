using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Trials.Running;

/// <summary>Marks a trial failed in its <c>kiln.run.json</c> when it could not say so itself (it never started, or its worker died).</summary>
internal static class TrialFailure
{
    public static void Record(string dir, string error)
    {
        var info = TrialState.Info(dir) ?? new RunInfo { Id = Path.GetFileName(dir), Kind = "trial" };
        AtomicFile.WriteJson(Path.Combine(dir, RunFiles.Run), (info with
        {
            Status = RunInfo.Failed,
            Error = error,
            End = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0,
            Heartbeat = null,
        }).ToJson());
    }
}
