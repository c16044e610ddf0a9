using Kiln.Experiments.Hashing;
using Kiln.Experiments.Pipeline;
using Kiln.Experiments.Reporting;

namespace Kiln.Experiments;

/// <summary>
/// One parameter set's path through the experiment: its params, its state (the outputs of the stages run on it, by
/// name), and the stages run on it. Creating one adds it to the manager's records (unless <c>hide</c>).
/// </summary>
public sealed class Record
{
    private readonly Dictionary<string, StateEntry> _state;
    private string? _comboHash;

    public Record(ExperimentManager manager, ExperimentParams? parameters, bool hide = false)
    {
        ArgumentNullException.ThrowIfNull(manager);
        Manager = manager;
        Params = parameters;
        _state = new Dictionary<string, StateEntry>(StringComparer.Ordinal);
        Index = manager.Add(this, hide);
    }

    public ExperimentManager Manager { get; }
    public ExperimentParams? Params { get; }

    /// <summary>The record's position among the manager's records (-1 when hidden).</summary>
    public int Index { get; }

    /// <summary>The records this one came from (a copy's source, an aggregate's inputs).</summary>
    public IReadOnlyList<Record> InputRecords { get; internal set; } = [];

    public bool IsAggregate { get; internal set; }

    /// <summary>The stages run on this record, in order.</summary>
    public IReadOnlyList<string> Stages => [.. Nodes.Select(n => n.Stage.Name)];

    internal List<StageNode> Nodes { get; } = [];

    /// <summary>The parameter hash; an aggregate's combination hash once it has aggregated; <c>None</c> without params.</summary>
    public string Hash => _comboHash ?? Params?.Hash ?? "None";

    internal void SetComboHash(IReadOnlyList<Record> inputs)
    {
        var f = new Fingerprint();
        f.AddString(Params?.Hash ?? "None");
        var hashes = inputs.Select(r => r.Hash).Order(StringComparer.Ordinal).ToList();
        f.Add(hashes, "aggregate inputs");
        _comboHash = f.Hex();
    }

    /// <summary>How logs and reports name it: <c>Record 3 (baseline_knn)</c>.</summary>
    public string ReferenceName => $"Record {Index} ({Params?.Name ?? "None"})";

    /// <summary>The names in the state.</summary>
    public IEnumerable<string> StateNames => _state.Keys;

    public bool Has(string name) => _state.ContainsKey(name);

    /// <summary>
    /// A value in the state, loaded from the cache when it is held lazily. During the map pass (DAG mode) no stage has
    /// run yet, so reading a value is refused with the advice to use <c>--no-dag</c>.
    /// </summary>
    public T Get<T>(string name) => (T)Get(name)!;

    public object? Get(string name)
    {
        if (!_state.TryGetValue(name, out var entry))
            throw new StageSignatureException(StageSignatureException.Kinds.MissingInput, $"{ReferenceName}: no '{name}' in the state (it has: {string.Join(", ", _state.Keys)})");
        return entry.Value(Manager, this, name);
    }

    /// <summary>Puts a value into the state by hand; stages that take it are keyed by its fingerprint.</summary>
    public void Set(string name, object? value) => _state[name] = StateEntry.Of(value);

    internal bool TryEntry(string name, out StateEntry entry) => _state.TryGetValue(name, out entry!);

    internal void SetOutput(string name, StageNode node, int index) => _state[name] = StateEntry.From(node, index);

    /// <summary>Runs (or, in DAG mode, declares) a stage method marked <see cref="StageAttribute"/>.</summary>
    public Record Run(Delegate stage, IReadOnlyDictionary<string, object?>? inputs = null)
    {
        ArgumentNullException.ThrowIfNull(stage);
        Manager.Declare(this, Manager.StageOf(stage.Method), stage, inputs, null);
        return this;
    }

    /// <summary>Runs a stage built with <see cref="Kiln.Experiments.Stage.Named"/> over <paramref name="body"/>.</summary>
    public Record Run(Stage stage, Delegate body, IReadOnlyDictionary<string, object?>? inputs = null)
    {
        ArgumentNullException.ThrowIfNull(stage);
        ArgumentNullException.ThrowIfNull(body);
        Manager.Declare(this, stage, body, inputs, null);
        return this;
    }

    /// <summary>Runs an aggregate stage over <paramref name="records"/> (by default every other record of the manager).</summary>
    public Record Aggregate(Delegate stage, IReadOnlyList<Record>? records = null)
    {
        ArgumentNullException.ThrowIfNull(stage);
        var definition = Manager.StageOf(stage.Method) with { IsAggregate = true };
        Manager.Declare(this, definition, stage, null, records ?? [.. Manager.Records.Where(r => r != this)]);
        return this;
    }

    /// <summary>Runs an aggregate stage built in code.</summary>
    public Record Aggregate(Stage stage, Delegate body, IReadOnlyList<Record>? records = null)
    {
        ArgumentNullException.ThrowIfNull(stage);
        Manager.Declare(this, stage with { IsAggregate = true }, body, null, records ?? [.. Manager.Records.Where(r => r != this)]);
        return this;
    }

    /// <summary>
    /// A new record holding this one's state (the same artifacts, not recomputed), with other params if given: to branch
    /// a pipeline. Its stages are keyed by the data they read, so the copy's lineage is in its keys.
    /// </summary>
    public Record MakeCopy(ExperimentParams? parameters = null, bool hide = false)
    {
        var copy = new Record(Manager, parameters ?? Params, hide) { InputRecords = [this] };
        foreach (var (k, v) in _state) copy._state[k] = v;
        return copy;
    }

    /// <summary>Adds a reportable to the run report (cached with the stage that made it).</summary>
    public void Report(Reportable reportable) => Manager.Report(this, reportable);

    /// <summary>Inside a stage: the file a <see cref="Caching.RawFileCacher"/> output must be written to.</summary>
    public string OutputPath(string output) => Manager.OutputPath(this, output);

    public override string ToString() => ReferenceName;
}

/// <summary>A state value: an output of a stage (loaded on demand), or a value put there by hand.</summary>
internal sealed class StateEntry
{
    public StageNode? Node { get; private init; }
    public int Index { get; private init; }
    public object? Direct { get; private init; }

    public static StateEntry From(StageNode node, int index) => new() { Node = node, Index = index };

    public static StateEntry Of(object? value) => new() { Direct = value };

    public object? Value(ExperimentManager manager, Record record, string name)
    {
        if (Node is null) return Direct;
        if (manager.Mapping)
            throw new StageSignatureException(StageSignatureException.Kinds.Skipped,
                $"{record.ReferenceName}: '{name}' was read while the experiment is mapped (no stage has run yet); read values inside stages, or run with --no-dag");
        return manager.Load(Node, Index);
    }
}
