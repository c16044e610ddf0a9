using Kiln.Execution.Local;
using Kiln.Registry.Records;
using System.Text.Json.Nodes;
using Kiln.Execution.Jobs;
using Kiln.IO;
using Kiln.Protocol;
using Kiln.Runs;

namespace Kiln.Registry.Training;

/// <summary>
/// <c>kiln trial</c>: the trial program runs as a child in a run directory of its own; when it reports its architecture
/// (<c>kiln.model.json</c>), a model of that architecture is chosen — asked, named with <c>--model</c>, or the newest
/// untrialled one — and handed to it (<c>kiln.choice.json</c>: the weights to load, or why there are none); the result
/// it reports (<c>kiln.result.json</c>) is written into every run that trained that architecture with the same
/// hyper-parameters, and recorded.
/// </summary>
public sealed class TrialSession(IRunRecords records)
{
    public TrialOutcome Run(TrialRequest request)
    {
        var dir = RunLauncher.ClaimRunDir(request.Workspace.Runs, "trial", RunKinds.ModelTrial);
        using var run = KilnRun.Start(dir, new RunOptions
        {
            Kind = RunKinds.ModelTrial, Config = TrainSession.ProgramName(request.Command), OwnsProtocol = false, GitDirectory = request.Workspace.Root,
            Log = request.Log, Stop = request.Stop,
        });
        var spec = new JobSpec
        {
            Name = Path.GetFileName(dir), Argv = request.Command, WorkingDirectory = request.Workspace.Root, RunDirectory = dir, EchoPrefix = request.Echo,
            Env = new Dictionary<string, string> { [ChildEnv.Mode] = ChildEnv.Trial, [ChildEnv.Workspace] = request.Workspace.Root },
        };
        var choice = new Choice(records, dir, request);
        var result = SingleJob.Run(spec, run.Stop, choice.KeepGoing);

        if (choice.End is { } end)
        {
            // Nothing was trialled: nothing is kept of it.
            run.Dispose();
            Directory.Delete(dir, recursive: true);
            return new TrialOutcome(end, null, null, null, 0, choice.Message!);
        }
        if (result.State != JobState.Completed || choice.Chosen is null)
        {
            var why = choice.Chosen is null && result.State == JobState.Completed
                ? $"the program ended without reporting its architecture ({RunFiles.Model}): call KilnSdk.Model(model) before evaluating"
                : $"{string.Join(' ', request.Command)}: {result.Error ?? "did not finish"}";
            if (run.StopRequested) run.End(); else run.Fail(why);
            records.Index(dir);
            return new TrialOutcome(TrialEnd.Failed, dir, choice.Chosen, null, 0, run.StopRequested ? "stopped" : why);
        }
        var model = choice.Chosen;
        var resultPath = Path.Combine(dir, RunFiles.TrialResult);
        if (!File.Exists(resultPath))
        {
            var hint = "the program reported no result: call KilnSdk.TrialResult(new Dictionary<string, object?> { [\"accuracy\"] = … }) once it has evaluated the model";
            run.Fail(hint);
            records.Index(dir);
            return new TrialOutcome(TrialEnd.NoResult, dir, model, null, 0, hint);
        }
        var trialResult = JsonObjectFile.Read(resultPath)!;
        run.Params["model"] = model.Id;
        run.Report(trialResult.Where(kv => JsonValues.TryGetDouble(kv.Value, out _))
            .ToDictionary(kv => kv.Key, kv => { JsonValues.TryGetDouble(kv.Value, out var d); return d; }, StringComparer.Ordinal));
        run.End();
        records.Index(dir);

        // numb's rule: a result belongs to the (architecture, hyper-parameters), so every run of them gets it.
        var shared = records.ShareResult(model, trialResult);
        return new TrialOutcome(TrialEnd.Recorded, dir, model, trialResult, shared,
            $"{model.Id}: {trialResult.ToJsonString()} recorded on {shared} run{(shared == 1 ? "" : "s")}");
    }

    /// <summary>Chooses the model once the program says its architecture, and tells it which.</summary>
    private sealed class Choice(IRunRecords records, string dir, TrialRequest request)
    {
        private bool _told;

        public ModelEntry? Chosen { get; private set; }
        public TrialEnd? End { get; private set; }
        public string? Message { get; private set; }

        public bool KeepGoing()
        {
            if (_told) return true;
            string fingerprint;
            try
            {
                if (JsonObjectFile.Read(Path.Combine(dir, RunFiles.Model))?["fingerprint"] is not JsonValue fp || !fp.TryGetValue(out fingerprint!)) return true;
            }
            catch (ProtocolException)
            {
                return true; // being written: looked at again at the next tick
            }
            _told = true;
            var models = records.Models(fingerprint);
            if (models.Count == 0)
                return Refuse(TrialEnd.NoModel, $"The model you are trialling was never trained: no run of this architecture ({Short(fingerprint)}) is recorded. `kiln train` it first.");
            ModelEntry? chosen;
            if (request.Model is { } wanted)
            {
                chosen = models.FirstOrDefault(m => m.Id == wanted);
                if (chosen is null) return Refuse(TrialEnd.Failed, $"{wanted}: not a model of this architecture ({Short(fingerprint)}); its models: {string.Join(", ", models.Take(10).Select(m => m.Id))}");
            }
            else if (request.NextUntrialled)
            {
                chosen = models.FirstOrDefault(m => m.Result is null && m.HasWeights);
                if (chosen is null) return Refuse(TrialEnd.AllTrialled, "All parameters associated with the current architecture have been trialled.");
            }
            else if (request.Choose is { } choose)
            {
                chosen = choose(models);
                if (chosen is null) return Refuse(TrialEnd.Failed, "No model chosen.");
            }
            else
            {
                return Refuse(TrialEnd.Failed, $"{models.Count} model{(models.Count == 1 ? "" : "s")} of this architecture and no terminal to choose on: name one with --model ({string.Join(", ", models.Take(10).Select(m => m.Id))}), or trial them all with --all");
            }
            if (chosen.WeightsPath is not { } weights || !File.Exists(weights))
                return Refuse(TrialEnd.Failed, $"{chosen.Id}: its weights ({RunFiles.Weights}) are missing, so it cannot be trialled");
            Chosen = chosen;
            AtomicFile.WriteJson(Path.Combine(dir, RunFiles.Choice), new JsonObject { ["weights"] = weights, ["id"] = chosen.Id });
            request.Log($"trialling {chosen.Id} ({CanonicalJson.Params(chosen.Params)})");
            return true;
        }

        private bool Refuse(TrialEnd end, string message)
        {
            End = end;
            Message = message;
            // The program is waiting for its choice: it is told why there is none, and ends.
            AtomicFile.WriteJson(Path.Combine(dir, RunFiles.Choice), new JsonObject { ["error"] = message });
            return true;
        }

        private static string Short(string fingerprint) => fingerprint.Length > 19 ? fingerprint[..19] + "…" : fingerprint;
    }
}
