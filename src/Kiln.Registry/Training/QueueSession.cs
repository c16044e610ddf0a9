using Kiln.Registry.Records;
using Kiln.Execution.Jobs;
using Kiln.Registry.Workspace;

namespace Kiln.Registry.Training;

/// <summary>
/// <c>kiln queue run</c>: every selected entry of a queue file, for every training command, runs as a training of its
/// own — its hyper-parameters injected, recorded as its params, its code snapshotted — through one executor, up to
/// <c>parallel</c> at a time.
/// </summary>
public sealed class QueueSession(IRunRecords records, ICodeSnapshots? snapshots, IJobExecutor? executor = null)
{
    public IReadOnlyList<TrainOutcome> Run(WorkspacePaths workspace, QueueFile queue, IReadOnlyList<IReadOnlyList<string>> commands,
        int parallel, Action<string> log, CancellationToken stop)
    {
        var session = new TrainSession(records, snapshots, executor);
        var work = (from entry in queue.Selected() from command in commands select (entry.Index, entry.Params, command)).ToList();
        var outcomes = new TrainOutcome[work.Count];
        Parallel.For(0, work.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, parallel), CancellationToken = CancellationToken.None }, i =>
        {
            if (stop.IsCancellationRequested)
            {
                outcomes[i] = new TrainOutcome(null, Kiln.Protocol.RunInfo.Stopped, "not started: the queue was stopped", []);
                return;
            }
            var (index, parameters, command) = work[i];
            log($"queue[{index}] {CanonicalJson.Params(parameters)}");
            outcomes[i] = session.Run(new TrainRequest
            {
                Workspace = workspace, Command = command, Queued = parameters, Retrain = RetrainAnswer.Yes, Log = log, Stop = stop,
                Echo = parallel > 1 ? $"[{index}] " : "",
            });
        });
        return outcomes;
    }
}
