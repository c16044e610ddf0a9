using System.Reflection;
using System.Runtime.CompilerServices;
using Kiln.Experiments.Caching;
using K = Kiln.Experiments.StageSignatureException.Kinds;

namespace Kiln.Experiments.Pipeline;

/// <summary>
/// Checks a stage against its method and binds its inputs when it is declared — before anything runs, so a wrong
/// signature fails the map pass with the stage's name, not an hour into the run.
/// </summary>
internal static class StageBinding
{
    public static void Bind(ExperimentManager manager, StageNode node, IReadOnlyDictionary<string, object?>? given)
    {
        var stage = node.Stage;
        var method = node.Method;
        var parameters = method.GetParameters();
        var name = stage.Name;
        if (parameters.Length == 0 || parameters[0].ParameterType != typeof(Record))
            throw new StageSignatureException(K.Inputs, $"stage {name}: its first parameter must be the Record");
        var first = 1;
        if (stage.IsAggregate)
        {
            if (parameters.Length < 2 || !parameters[1].ParameterType.IsAssignableFrom(typeof(List<Record>)))
                throw new StageSignatureException(K.Inputs, $"aggregate {name}: its second parameter must be IReadOnlyList<Record> (the records aggregated)");
            first = 2;
        }
        var rest = parameters.Skip(first).ToList();
        var inputs = stage.InputNames ?? [.. rest.Select(p => p.Name!)];
        foreach (var input in inputs)
        {
            if (rest.All(p => p.Name != input))
                throw new StageSignatureException(K.Inputs, $"stage {name}: input '{input}' is not a parameter of {method.Name} (it takes {string.Join(", ", rest.Select(p => p.Name))})");
        }
        foreach (var p in rest.Where(p => !inputs.Contains(p.Name!) && !p.HasDefaultValue))
            throw new StageSignatureException(K.Inputs, $"stage {name}: parameter '{p.Name}' is not an input and has no default value");
        BindOutputs(manager, node);
        foreach (var p in rest)
        {
            if (!inputs.Contains(p.Name!))
            {
                node.Inputs.Add(new InputBinding { Name = p.Name!, Type = p.ParameterType, IsValue = true, Value = p.DefaultValue, ValueOrigin = "default" });
                continue;
            }
            node.Inputs.Add(stage.IsAggregate ? BindAggregate(manager, node, p) : BindOne(node, p, given));
        }
    }

    private static InputBinding BindOne(StageNode node, ParameterInfo p, IReadOnlyDictionary<string, object?>? given)
    {
        var name = p.Name!;
        if (given is not null && given.TryGetValue(name, out var value))
            return new InputBinding { Name = name, Type = p.ParameterType, IsValue = true, Value = value, ValueOrigin = "given" };
        if (node.Record.TryEntry(name, out var entry))
        {
            if (entry.Node is { } producer)
            {
                producer.Consumers.Add(node);
                return new InputBinding { Name = name, Type = p.ParameterType, Producer = producer, Index = entry.Index };
            }
            return new InputBinding { Name = name, Type = p.ParameterType, IsValue = true, Value = entry.Direct, ValueOrigin = "state" };
        }
        if (node.Stage.SuppressMissingInputs)
        {
            if (!p.HasDefaultValue)
                throw new StageSignatureException(K.Inputs, $"stage {node.Stage.Name}: input '{name}' is missing and has no default value to stand in for it");
            return new InputBinding { Name = name, Type = p.ParameterType, IsValue = true, Value = p.DefaultValue, ValueOrigin = "default (input missing)" };
        }
        throw new StageSignatureException(K.MissingInput,
            $"stage {node.Stage.Name} on {node.Record.ReferenceName}: input '{name}' was not produced by an earlier stage (the state has: {string.Join(", ", node.Record.StateNames)})");
    }

    private static InputBinding BindAggregate(ExperimentManager manager, StageNode node, ParameterInfo p)
    {
        var name = p.Name!;
        var valueType = p.ParameterType.IsGenericType && p.ParameterType.GetGenericArguments() is [var k, var v] && k == typeof(Record)
            ? v
            : throw new StageSignatureException(K.Inputs, $"aggregate {node.Stage.Name}: input '{name}' must be IReadOnlyDictionary<Record, T> (one value per record)");
        var per = new List<(Record, StageNode, int)>();
        foreach (var r in node.Aggregated!)
        {
            if (r.TryEntry(name, out var entry) && entry.Node is { } producer)
            {
                producer.Consumers.Add(node);
                per.Add((r, producer, entry.Index));
            }
            else
            {
                manager.Log(LogLevel.Warning, $"aggregate {node.Stage.Name}: {r.ReferenceName} has no '{name}'; it is left out");
            }
        }
        return new InputBinding { Name = name, Type = valueType, PerRecord = per };
    }

    private static void BindOutputs(ExperimentManager manager, StageNode node)
    {
        var stage = node.Stage;
        var outputs = stage.OutputNames;
        var returns = node.Method.ReturnType;
        if (outputs.Count == 0) node.OutputTypes = [];
        else if (outputs.Count == 1)
        {
            if (returns == typeof(void)) throw new StageSignatureException(K.Outputs, $"stage {stage.Name}: declares output '{outputs[0]}' but returns nothing");
            node.OutputTypes = [returns];
        }
        else
        {
            if (!typeof(ITuple).IsAssignableFrom(returns) || !returns.IsGenericType || returns.GetGenericArguments().Length != outputs.Count)
                throw new StageSignatureException(K.Outputs, $"stage {stage.Name}: declares {outputs.Count} outputs ({string.Join(", ", outputs)}) but returns {returns.Name}, not a tuple of {outputs.Count}");
            node.OutputTypes = returns.GetGenericArguments();
        }
        var options = manager.Options;
        Cacher?[] cachers;
        if (stage.Cachers is { } given)
        {
            if (given.Count == 0) throw new StageSignatureException(K.Cachers, $"stage {stage.Name}: Cachers is empty; leave it out for no caching");
            if (given.Count != outputs.Count)
                throw new StageSignatureException(K.Cachers, $"stage {stage.Name}: {given.Count} cachers for {outputs.Count} outputs; give one per output");
            cachers = [.. given];
        }
        else
        {
            cachers = new Cacher?[outputs.Count];
        }
        foreach (var lazy in stage.LazyNames)
        {
            if (!outputs.Contains(lazy)) throw new StageSignatureException(K.Outputs, $"stage {stage.Name}: Lazy '{lazy}' is not one of its outputs");
        }
        var lazyOutputs = new bool[outputs.Count];
        for (var i = 0; i < outputs.Count; i++)
        {
            var isLazy = options.Lazy || (!options.IgnoreLazy && stage.LazyNames.Contains(outputs[i]));
            if (isLazy && cachers[i] is null)
            {
                if (!options.Lazy) throw new StageSignatureException(K.Outputs, $"stage {stage.Name}: Lazy output '{outputs[i]}' needs a cacher");
                cachers[i] = new JsonCacher(); // --lazy: what curifactory's pickle cacher did, for any value
            }
            lazyOutputs[i] = isLazy;
        }
        node.Cachers = cachers;
        node.LazyOutputs = lazyOutputs;
    }
}
