using Kiln.Execution.Local;
using Kiln.IO;
using Kiln.Registry.Records;
using System.Text.Json.Nodes;
using Kiln.Execution.Jobs;
using Kiln.Metrics;
using Kiln.Protocol;
using Kiln.Runs;

namespace Kiln.Registry.Training;

/// <summary>
/// <c>kiln train</c> and each entry of <c>kiln queue run</c>: a run directory under <c>runs/</c> claimed for the
/// training, a snapshot of the code as it trains, the program run as a child told its run directory and mode, a
/// retraining of a model already trained with the same hyper-parameters asked about (and, declined, stopped and
/// erased), and the record written when the program ends — complete, or marked failed or stopped.
/// </summary>
public sealed class TrainSession(IRunRecords records, ICodeSnapshots? snapshots, IJobExecutor? executor = null)
{
    public TrainOutcome Run(TrainRequest request)
    {
        var (mode, kind) = request.Queued is null ? (ChildEnv.Train, RunKinds.Train) : (ChildEnv.Queue, RunKinds.Queue);
        var name = ProgramName(request.Command);
        var dir = RunLauncher.ClaimRunDir(request.Workspace.Runs, name, kind);
        var id = Path.GetFileName(dir);
        if (snapshots is not null)
        {
            try
            {
                request.Log(snapshots.Take(dir, id, $"kiln {mode} {id}\n\n{string.Join(' ', request.Command)}"));
            }
            catch (Exception ex) when (ex is InvalidOperationException or IOException)
            {
                request.Log($"no code snapshot: {ex.Message}");
            }
        }
        using var run = KilnRun.Start(dir, new RunOptions
        {
            Kind = kind, Config = name, Params = request.Queued?.DeepClone().AsObject(), OwnsProtocol = false,
            GitDirectory = request.Workspace.Root, Log = request.Log, Stop = request.Stop,
        });
        records.Index(dir);

        var env = new Dictionary<string, string> { [ChildEnv.Mode] = mode, [ChildEnv.Workspace] = request.Workspace.Root };
        if (request.Queued is { } queued) env[ChildEnv.QueueParams] = CanonicalJson.Params(queued);
        var spec = new JobSpec
        {
            Name = id, Argv = request.Command, Env = env, WorkingDirectory = request.Workspace.Root, RunDirectory = dir, EchoPrefix = request.Echo,
        };
        var duplicate = mode == ChildEnv.Train ? new DuplicateCheck(records, dir, id, request) : null;
        var result = SingleJob.Run(spec, run.Stop, duplicate is null ? null : duplicate.KeepGoing, executor);

        if (duplicate?.Declined == true)
        {
            // Nothing is recorded of a training the user did not want: not its folder, not its snapshot, not its row.
            run.Dispose();
            Directory.Delete(dir, recursive: true);
            snapshots?.Drop(id);
            records.Forget(id);
            return new TrainOutcome(null, TrainOutcome.Declined, null, duplicate.SameAs);
        }

        Collect(run, dir, request.Log);
        var status = result.State switch
        {
            JobState.Completed => run.End(),
            _ when run.StopRequested => run.End(),
            _ => run.Fail($"{string.Join(' ', request.Command)}: {result.Error ?? "did not finish"}"),
        };
        if (status != RunInfo.Completed) File.Delete(Path.Combine(dir, RunFiles.Weights)); // a run cut short has no model
        records.Index(dir);
        return new TrainOutcome(dir, status, run.Error, duplicate?.SameAs ?? []);
    }

    /// <summary>What the program reported into the run's record: its hyper-parameters and final metrics.</summary>
    private static void Collect(KilnRun run, string dir, Action<string> log)
    {
        var paramsPath = Path.Combine(dir, RunFiles.Params);
        try
        {
            foreach (var (k, v) in JsonObjectFile.Read(paramsPath) ?? []) run.Params[k] = v?.DeepClone();
        }
        catch (ProtocolException ex)
        {
            run.Fail($"{paramsPath}: {ex.Message}");
        }
        var metrics = new MetricsReader(Path.Combine(dir, RunFiles.Metrics));
        metrics.Read();
        var last = metrics.Series.Where(kv => kv.Value.Count > 0).ToDictionary(kv => kv.Key, kv => kv.Value.Values[^1], StringComparer.Ordinal);
        run.Report(last);
        if (last.Count == 0) RunLauncher.ReportBatchLog(run, log);
    }

    /// <summary>A short name for the run's folder: the program (a script's name rather than its interpreter's).</summary>
    internal static string ProgramName(IReadOnlyList<string> command)
    {
        var words = command.Select(Path.GetFileNameWithoutExtension).Where(w => !string.IsNullOrEmpty(w)).ToList();
        var known = new HashSet<string>(["dotnet", "python", "python3", "sh", "bash", "run", "uv", "env"], StringComparer.Ordinal);
        return words.FirstOrDefault(w => !known.Contains(w!) && !w!.StartsWith('-')) ?? "train";
    }
}
