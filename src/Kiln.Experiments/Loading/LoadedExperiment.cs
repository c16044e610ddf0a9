using System.Collections;
using System.Reflection;
using Kiln.Experiments.Pipeline;

namespace Kiln.Experiments.Loading;

/// <summary>A compiled experiment: its <c>Run</c> and the <c>GetParams</c> of each parameters file given.</summary>
public sealed record LoadedExperiment(string Name, string Path, MethodInfo Run, IReadOnlyList<(string File, MethodInfo Method)> GetParams, string CompileKey, Assembly Assembly)
{
    /// <summary>The compiled experiment in the compile cache (what a notebook references), or null when it is not on disk.</summary>
    public string? AssemblyFile => Kiln.Scripting.Compilation.ScriptCompiler.CachedAssembly(CompileKey);

    /// <summary>Each parameters file's sets, in order; a file that returns none (or not a list of params) is an error.</summary>
    public IReadOnlyList<(string File, IReadOnlyList<ExperimentParams> Sets)> ParamSets()
    {
        var all = new List<(string, IReadOnlyList<ExperimentParams>)>();
        foreach (var (file, method) in GetParams)
        {
            object? result;
            try
            {
                result = method.Invoke(null, null);
            }
            catch (TargetInvocationException ex)
            {
                throw new ExperimentException($"{file}: GetParams() threw {ex.InnerException?.GetType().Name}: {ex.InnerException?.Message}");
            }
            if (result is not IEnumerable items || result is string) throw new ExperimentException($"{file}: GetParams() must return a list of parameter sets");
            var sets = new List<ExperimentParams>();
            var i = 0;
            foreach (var item in items)
            {
                sets.Add(item as ExperimentParams ?? throw new ExperimentException($"{file}: GetParams() item {i} is a {item?.GetType().Name ?? "null"}, not a record derived from ExperimentParams"));
                i++;
            }
            if (sets.Count == 0) throw new ExperimentException($"{file}: GetParams() returned no parameter sets");
            all.Add((file, sets));
        }
        return all;
    }

    /// <summary>Calls <c>Run(params, manager)</c> with the list typed as the method wants it.</summary>
    public void Invoke(IReadOnlyList<ExperimentParams> sets, ExperimentManager manager)
    {
        var wanted = Run.GetParameters()[0].ParameterType;
        var element = wanted.IsGenericType ? wanted.GetGenericArguments()[0] : typeof(ExperimentParams);
        var list = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(element))!;
        foreach (var p in sets)
        {
            if (!element.IsInstanceOfType(p)) throw new ExperimentException($"{Path}: Run takes {element.Name} parameter sets, and '{p.Name}' is a {p.GetType().Name}");
            list.Add(p);
        }
        try
        {
            Run.Invoke(null, [list, manager]);
        }
        catch (TargetInvocationException ex) when (ex.InnerException is { } inner)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(inner).Throw();
        }
    }
}
