using System.Reflection;
using Kiln.Experiments.Caching;
using Kiln.Experiments.Reporting;

namespace Kiln.Experiments.Pipeline;

/// <summary>
/// One stage called on one record: a node of the experiment's DAG. Its inputs point at the nodes that produced them
/// (not at names: a stage run twice on a record, or records created in any order, cannot be confused), and it knows its
/// key, its status and, once known, each output's data version.
/// </summary>
public sealed class StageNode
{
    internal StageNode(ExperimentManager manager, int id, Record record, Stage stage, Delegate body, IReadOnlyList<Record>? aggregated)
    {
        Manager = manager;
        Id = id;
        Record = record;
        Stage = stage;
        Body = body;
        Aggregated = aggregated;
        Outputs = [.. stage.OutputNames.Select(_ => new OutputSlot())];
    }

    internal ExperimentManager Manager { get; }

    /// <summary>The node's position in declaration order (a topological order).</summary>
    public int Id { get; }

    public Record Record { get; }
    public Stage Stage { get; }
    internal Delegate Body { get; }
    internal MethodInfo Method => Body.Method;

    /// <summary>An aggregate's input records.</summary>
    public IReadOnlyList<Record>? Aggregated { get; }

    internal List<InputBinding> Inputs { get; } = [];
    internal Type[] OutputTypes { get; set; } = [];
    internal Cacher?[] Cachers { get; set; } = [];
    internal bool[] LazyOutputs { get; set; } = [];
    internal OutputSlot[] Outputs { get; }

    /// <summary>The nodes that read this one's outputs.</summary>
    internal List<StageNode> Consumers { get; } = [];

    public string? Key { get; internal set; }

    /// <summary>The input data versions the key was made from.</summary>
    internal List<(string Name, object Version)>? InputVersions { get; set; }
    public string? CodeHash { get; internal set; }
    public StageStatus Status { get; internal set; } = StageStatus.Pending;
    public string? Reason { get; internal set; }
    public bool Forced { get; internal set; }
    public TimeSpan? Duration { get; internal set; }
    public string? Error { get; internal set; }
    internal List<RenderedReportable> Reportables { get; } = [];

    public IReadOnlyList<string> OutputNames => Stage.OutputNames;

    /// <summary>The data version of each output (null while unknown).</summary>
    public IReadOnlyList<string?> OutputVersions => [.. Outputs.Select(o => o.Version)];

    /// <summary>Each input: its name and where it comes from (<c>stage@record</c>, a value, a default).</summary>
    public IReadOnlyList<(string Name, string From)> InputSources => [.. Inputs.Select(i => (i.Name, i.Describe()))];

    internal bool HasCachers => Cachers.Length > 0 && Cachers.All(c => c is not null);

    public string? ArtifactPath(int index) =>
        Key is null || Cachers.Length <= index || Cachers[index] is not { } c ? null : Manager.Store.ArtifactPath(Key, Stage.Name, Stage.OutputNames[index], c.Extension);

    public override string ToString() => $"{Stage.Name} on {Record.ReferenceName}";
}

/// <summary>An output: its value once held, its data version once known, its metadata when read from the cache.</summary>
internal sealed class OutputSlot
{
    public object? Value { get; set; }
    public bool HasValue { get; set; }
    public string? Version { get; set; }
    public ArtifactMetadata? Metadata { get; set; }

    /// <summary>Why the value has no data version (it cannot be fingerprinted): said when a downstream key needs one.</summary>
    public string? VersionError { get; set; }
}

/// <summary>Where one input of a stage comes from.</summary>
internal sealed class InputBinding
{
    public required string Name { get; init; }
    public required Type Type { get; init; }

    /// <summary>The producing node and output (a stage output in the record's state).</summary>
    public StageNode? Producer { get; init; }
    public int Index { get; init; }

    /// <summary>A value given directly (a keyword input, a value set in the state, a default).</summary>
    public bool IsValue { get; init; }
    public object? Value { get; init; }
    public string? ValueOrigin { get; init; }

    /// <summary>An aggregate's input: each record's producer, where it has one.</summary>
    public IReadOnlyList<(Record Record, StageNode Node, int Index)>? PerRecord { get; init; }

    public string Describe() =>
        PerRecord is not null ? $"{PerRecord.Count} records"
        : Producer is not null ? $"{Producer.Stage.Name}@{Producer.Record.ReferenceName}"
        : ValueOrigin ?? "value";
}
