using Kiln.Train.Tensors;

namespace Kiln.Train.Nn;

/// <summary>
/// A layer or a model: parameters and children registered by name, so a model's state dict uses PyTorch's
/// dotted names (<c>0.weight</c>, <c>trunk.2.bias</c>) and loads into the same architecture elsewhere.
/// </summary>
public abstract class Module
{
    private readonly List<(string Name, Tensor Value)> _parameters = [];
    private readonly List<(string Name, Module Value)> _children = [];

    /// <summary>Training mode (dropout active) or evaluation mode.</summary>
    public bool Training { get; private set; } = true;

    public abstract Tensor Forward(Tensor x);

    protected Tensor Parameter(string name, Tensor value)
    {
        value.RequiresGrad = true;
        value.Name = name;
        _parameters.Add((name, value));
        return value;
    }

    protected T Child<T>(string name, T module) where T : Module
    {
        _children.Add((name, module));
        return module;
    }

    public IEnumerable<(string Name, Tensor Value)> NamedParameters(string prefix = "")
    {
        foreach (var (name, p) in _parameters) yield return (prefix + name, p);
        foreach (var (name, child) in _children)
        {
            foreach (var item in child.NamedParameters(prefix + name + ".")) yield return item;
        }
    }

    public List<Tensor> Parameters() => NamedParameters().Select(p => p.Value).ToList();

    /// <summary>This module and every descendant, by dotted name (the root is "").</summary>
    public IEnumerable<(string Name, Module Value)> NamedModules(string prefix = "")
    {
        yield return (prefix.TrimEnd('.'), this);
        foreach (var (name, child) in _children)
        {
            foreach (var item in child.NamedModules(prefix + name + ".")) yield return item;
        }
    }

    public long ParameterCount => NamedParameters().Sum(p => (long)p.Value.Size);

    public void SetTraining(bool training)
    {
        Training = training;
        foreach (var (_, child) in _children) child.SetTraining(training);
    }

    /// <summary>Copies of the parameters by name.</summary>
    public Dictionary<string, Tensor> StateDict() =>
        NamedParameters().ToDictionary(p => p.Name, p => new Tensor((int[])p.Value.Shape.Clone(), p.Value.ToArray()), StringComparer.Ordinal);

    /// <summary>Loads parameters by name; every name must match and every shape agree.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        var mine = NamedParameters().ToDictionary(p => p.Name, p => p.Value, StringComparer.Ordinal);
        var missing = mine.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !mine.ContainsKey(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new ArgumentException($"state dict does not fit the model: missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", unexpected)}]");
        foreach (var (name, p) in mine)
        {
            var src = state[name];
            if (!Tensor.SameShape(src, p))
                throw new ArgumentException($"state dict: {name} has shape {Tensor.ShapeText(src.Shape)}, the model needs {Tensor.ShapeText(p.Shape)}");
            src.Span.CopyTo(p.Span);
        }
    }

    /// <summary>PyTorch's default initialisation bound for a layer with <paramref name="fanIn"/> inputs: kaiming_uniform with a = √5 gives 1/√fan_in.</summary>
    protected static float DefaultBound(int fanIn) => 1f / MathF.Sqrt(fanIn);
}
