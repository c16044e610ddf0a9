using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;
using Kiln.Runs;
using Kiln.Train.Nn;
using Kiln.Train.Serialization;
using Kiln.Train.Tensors;

namespace Kiln.Train.Sdk;

/// <summary>
/// The SDK's work for one environment: what <see cref="KilnSdk"/> does for this process, and what tests do for an
/// environment of their own. Calls that have nothing to do in the mode say so once on the log and return.
/// </summary>
internal sealed class SdkSession
{
    private readonly Lock _gate = new();
    private readonly TextWriter _log;
    private readonly bool _hookProcessExit;
    private readonly Action<int> _exit;
    private readonly TimeProvider _time;
    private readonly RunFiles? _files;
    private readonly ParamsFile? _params;
    private readonly ParamsFile? _result;
    private readonly WeightsSaver? _weights;
    private readonly int _parentAtStart;
    private readonly HashSet<string> _said = new(StringComparer.Ordinal);
    private JsonObject? _queue;

    /// <param name="hookProcessExit">Save the weights when the process ends (the real SDK; not a test host).</param>
    /// <param name="exit">Ends the process when a trial's parent refuses it (<c>Environment.Exit</c>).</param>
    public SdkSession(ChildEnvironment environment, TextWriter log, bool hookProcessExit = false, Action<int>? exit = null, TimeProvider? time = null)
    {
        Environment = environment;
        _log = log;
        _hookProcessExit = hookProcessExit;
        _exit = exit ?? System.Environment.Exit;
        _time = time ?? TimeProvider.System;
        _parentAtStart = Processes.ParentId();
        if (environment.RunDir is { } dir)
        {
            _files = new RunFiles(dir);
            _params = new ParamsFile(Path.Combine(dir, RunFiles.Params), "param", log);
            _result = new ParamsFile(Path.Combine(dir, RunFiles.TrialResult), "result", log);
            _weights = new WeightsSaver(Path.Combine(dir, RunFiles.Weights), log);
        }
        foreach (var problem in environment.Problems) log.WriteLine($"kiln: {problem}");
    }

    public ChildEnvironment Environment { get; }

    public SdkMode Mode => Environment.Mode;

    public string? RunDir => Environment.RunDir;

    public ArchitectureInfo Model(Module model, Tensor? dummyInput = null)
    {
        // Described even when nothing is recorded, so a program run by hand fails the same way it would under kiln.
        var info = ArchitectureFingerprint.Of(model, dummyInput);
        lock (_gate)
        {
            if (!Recording("Model")) return info;
            AtomicFile.WriteJson(Path.Combine(_files!.Dir, RunFiles.Model), info.ToJson());
            switch (Mode)
            {
                case SdkMode.Train or SdkMode.Queue:
                    _weights!.Register(model, info.Fingerprint, _hookProcessExit);
                    break;
                case SdkMode.Trial:
                    LoadChosenWeights(model, info);
                    break;
            }
            return info;
        }
    }

    public void Param(JsonObject values)
    {
        lock (_gate)
        {
            if (!Recording("Param")) return;
            if (Mode == SdkMode.Trial)
            {
                SayOnce("param-trial", "kiln: Param records nothing in a trial: a trial's parameters are those of the model it loads");
                return;
            }
            if (Mode == SdkMode.Queue) _params!.Inject(QueueObject());
            _params!.Merge(values);
        }
    }

    public JsonObject Queue()
    {
        lock (_gate)
        {
            // Outside a queue run the queue is empty, quietly: Queue(key, fallback) is how a program reads its defaults.
            if (!Recording("Queue") || Mode != SdkMode.Queue) return [];
            var queue = QueueObject();
            _params!.Inject(queue);
            return (JsonObject)queue.DeepClone();
        }
    }

    public T Queue<T>(string key, T fallback)
    {
        ArgumentNullException.ThrowIfNull(key);
        var queue = Queue();
        return queue.TryGetPropertyValue(key, out var node) ? QueueValues.Convert<T>(node, key) : fallback;
    }

    public void TrialResult(JsonObject values)
    {
        lock (_gate)
        {
            if (!Recording("TrialResult")) return;
            if (Mode != SdkMode.Trial)
            {
                SayOnce("result", $"kiln: TrialResult records nothing: this is not a trial (KILN_MODE={Environment.ModeName ?? "train"})");
                return;
            }
            _result!.Merge(values);
        }
    }

    public void SaveWeights()
    {
        lock (_gate)
        {
            if (SavesWeights("SaveWeights")) _weights!.Save();
        }
    }

    public void End()
    {
        lock (_gate)
        {
            if (SavesWeights("End")) _weights!.End();
        }
    }

    private bool SavesWeights(string call)
    {
        if (!Recording(call)) return false;
        if (Mode is SdkMode.Train or SdkMode.Queue) return true;
        SayOnce("weights", $"kiln: {call} saves nothing: weights are saved in train and queue runs, this is {Environment.ModeName}");
        return false;
    }

    /// <summary>Whether calls record anything; when not run by kiln, says so once.</summary>
    private bool Recording(string call)
    {
        if (Mode != SdkMode.None) return true;
        SayOnce("none", $"kiln: KILN_RUN_DIR is not set, so {call} and the other Kiln SDK calls record nothing " +
                        "(run the program with kiln train, kiln trial or kiln queue run to record it)");
        return false;
    }

    private JsonObject QueueObject() => _queue ??= QueueValues.Parse(Environment.QueueJson);

    private void LoadChosenWeights(Module model, ArchitectureInfo info)
    {
        var choice = ChoiceFile.Wait(_files!, Environment.ParentPid, _parentAtStart, Environment.ChoiceTimeout, _time);
        if (choice.Error is { } error)
        {
            // The parent has no weights for this model (numb's "SHUTTING DOWN"): the trial cannot go on.
            _log.WriteLine($"kiln: {error}");
            _log.WriteLine("kiln: no weights to load; shutting down");
            _log.Flush();
            _exit(1);
            throw new KilnSdkException(error);
        }

        var path = choice.Weights!;
        var run = choice.Id is null ? "" : $" (run {choice.Id})";
        if (!File.Exists(path)) throw new KilnSdkException($"the chosen weights {path}{run} do not exist");
        Dictionary<string, Tensor> tensors;
        Dictionary<string, string> metadata;
        try
        {
            (tensors, metadata) = Safetensors.Load(path);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            throw new KilnSdkException($"the chosen weights {path}{run} cannot be read: {ex.Message}", ex);
        }
        if (metadata.TryGetValue("fingerprint", out var trained) && trained != info.Fingerprint)
            _log.WriteLine($"kiln: the chosen weights{run} were trained with architecture {trained}; this model is {info.Fingerprint}");
        try
        {
            model.LoadStateDict(tensors);
        }
        catch (ArgumentException ex)
        {
            throw new KilnSdkException($"the chosen weights {path}{run} do not fit this model: {ex.Message}", ex);
        }
        _log.WriteLine($"kiln: loaded the weights{run} from {path}");
    }

    private void SayOnce(string key, string message)
    {
        if (_said.Add(key)) _log.WriteLine(message);
    }
}
