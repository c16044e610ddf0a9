using System.Reflection;
using Kiln.Experiments.Caching;
using Kiln.Experiments.Hashing;
using Kiln.Experiments.Reporting;

namespace Kiln.Experiments.Pipeline;

/// <summary>
/// What an experiment's <c>Run</c> is given: it holds the records and the stages declared on them. In DAG mode (the
/// default) a stage call only declares a node; once <c>Run</c> returns, <see cref="Execute"/> works out each node's key and
/// runs only what is not cached — a map pass that runs no stage bodies, then execution. With <c>--no-dag</c> each stage
/// runs when called.
/// </summary>
public sealed class ExperimentManager
{
    private readonly List<Record> _records = [];
    private readonly List<StageNode> _nodes = [];
    private readonly List<RenderedReportable> _reportables = [];
    private readonly Dictionary<MethodInfo, Stage> _stages = [];
    private readonly StageRunner _runner;

    public ExperimentManager(ExperimentOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        Store = new ArtifactStore(options.CacheDirectory, options.Prefix ?? options.ExperimentName, options.DryCache);
        _runner = new StageRunner(this);
    }

    public ExperimentOptions Options { get; }
    public ArtifactStore Store { get; }
    public string ExperimentName => Options.ExperimentName;
    public IReadOnlyList<Record> Records => _records;
    public IReadOnlyList<StageNode> Nodes => _nodes;

    /// <summary>True between the first declared stage and <see cref="Execute"/> in DAG mode: no values exist yet.</summary>
    public bool Mapping { get; private set; }

    /// <summary>Every reportable, in the order stages made them.</summary>
    public IReadOnlyList<RenderedReportable> Reportables =>
        [.. _nodes.SelectMany(n => n.Reportables), .. _reportables];

    /// <summary>Whether <see cref="Execute"/> ended early because <see cref="ExperimentOptions.Stop"/> was cancelled.</summary>
    public bool Stopped { get; private set; }

    /// <summary>The stages that failed, with why.</summary>
    public IReadOnlyList<StageNode> Failures => [.. _nodes.Where(n => n.Status == StageStatus.Failed)];

    internal CodeHasher Code { get; private set; } = null!;

    internal int Add(Record record, bool hide)
    {
        if (hide) return -1;
        _records.Add(record);
        return _records.Count - 1;
    }

    /// <summary>The stage a method's attribute declares, read once per method (a method is usually run on every record).</summary>
    internal Stage StageOf(MethodInfo method)
    {
        if (!_stages.TryGetValue(method, out var stage)) _stages[method] = stage = Stage.FromAttribute(method);
        return stage;
    }

    internal void Log(LogLevel level, string message) => Options.Log(level, message);

    internal void Declare(Record record, Stage stage, Delegate body, IReadOnlyDictionary<string, object?>? given, IReadOnlyList<Record>? aggregated)
    {
        Code ??= Options.Code ?? CodeHasher.ForUserAssemblies(body.Method.Module.Assembly);
        var node = new StageNode(this, _nodes.Count, record, stage, body, aggregated);
        StageBinding.Bind(this, node, given);
        _nodes.Add(node);
        record.Nodes.Add(node);
        if (aggregated is not null)
        {
            record.IsAggregate = true;
            record.InputRecords = aggregated;
            record.SetComboHash(aggregated);
        }
        for (var i = 0; i < stage.OutputNames.Count; i++) record.SetOutput(stage.OutputNames[i], node, i);
        if (Options.NoDag)
        {
            Options.Stop.ThrowIfCancellationRequested();
            _runner.Evaluate(node, mapOnly: false);
            if (node.Status == StageStatus.Run || !node.HasCachers && node.Status == StageStatus.Known) _runner.Execute(node);
            if (node.Status == StageStatus.Failed) throw new StageFailedException(node);
        }
        else
        {
            Mapping = true;
        }
    }

    /// <summary>
    /// The map pass alone: every node's key and cache status as far as they can be known without running anything
    /// (a node below one that must run is <see cref="StageStatus.Pending"/>). Nothing is written.
    /// </summary>
    public IReadOnlyList<StageNode> Map()
    {
        foreach (var node in _nodes) _runner.Evaluate(node, mapOnly: true);
        return _nodes;
    }

    /// <summary>
    /// Runs what is needed, in declaration order: a node whose outputs are cached is not run (its outputs load only if
    /// read), one whose key is new runs, and its new data versions decide its consumers' keys (early cutoff). A node
    /// whose outputs nobody reads and that has no cacher runs every time (it is a leaf with effects, like a report). A
    /// failed stage fails the nodes below it; the others go on. Once <see cref="ExperimentOptions.Stop"/> is cancelled no
    /// further node starts (<see cref="Stopped"/>).
    /// </summary>
    public void Execute()
    {
        Mapping = false;
        foreach (var node in _nodes)
        {
            if (Options.Stop.IsCancellationRequested)
            {
                Stopped = true;
                return;
            }
            if (node.Status is StageStatus.Executed or StageStatus.Failed) continue;
            if (node.Inputs.Any(i => Upstream(i).Any(u => u.Status == StageStatus.Failed)))
            {
                node.Status = StageStatus.Failed;
                node.Error = "an upstream stage failed";
                continue;
            }
            try
            {
                _runner.Evaluate(node, mapOnly: false);
                var leafWithEffects = node.Consumers.Count == 0 && !node.HasCachers;
                if (node.Status == StageStatus.Run || leafWithEffects) _runner.Execute(node);
            }
            catch (StageFailedException)
            {
                // recorded on the node; siblings go on
            }
        }
    }

    private static IEnumerable<StageNode> Upstream(InputBinding input) =>
        input.PerRecord is { } many ? many.Select(m => m.Node) : input.Producer is { } p ? [p] : [];

    /// <summary>An output's value: held, loaded from the cache (verified), or computed now.</summary>
    internal object? Load(StageNode node, int index) => _runner.Load(node, index);

    internal void Report(Record record, Reportable reportable)
    {
        var rendered = reportable.Render(record, _runner.Current?.Stage.Name, Reportables.Count);
        if (_runner.Current is { } current && current.Record == record) current.Reportables.Add(rendered);
        else _reportables.Add(rendered);
    }

    internal string OutputPath(Record record, string output)
    {
        if (_runner.Current is not { } node || node.Record != record)
            throw new InvalidOperationException($"{record.ReferenceName}: OutputPath(\"{output}\") is for use inside a stage running on this record");
        var i = node.Stage.OutputNames.ToList().IndexOf(output);
        if (i < 0) throw new StageSignatureException(StageSignatureException.Kinds.Outputs, $"stage {node.Stage.Name} has no output '{output}'");
        return node.ArtifactPath(i) ?? throw new StageSignatureException(StageSignatureException.Kinds.Cachers, $"stage {node.Stage.Name}: output '{output}' has no cacher, so it has no file");
    }

    /// <summary>The user's stage method threw; the stage is marked failed with the exception's message.</summary>
    internal static Exception Unwrap(Exception ex) => ex is TargetInvocationException { InnerException: { } inner } ? inner : ex;
}

/// <summary>A stage threw (or could not be fingerprinted, or its artifact could not be written).</summary>
public sealed class StageFailedException(StageNode node) : Exception($"stage {node.Stage.Name} on {node.Record.ReferenceName} failed: {node.Error}")
{
    public StageNode Node { get; } = node;
}
