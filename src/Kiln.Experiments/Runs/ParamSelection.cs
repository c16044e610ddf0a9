using Kiln.Experiments.Loading;
using System.Globalization;

namespace Kiln.Experiments.Runs;

/// <summary>
/// Which parameter sets run: <c>--names</c>, <c>--indices</c> (per parameters file) and <c>--global-indices</c> (over
/// the combined list, applied last). Indices are a number or a range <c>a-b</c> (lower inclusive, upper exclusive).
/// </summary>
public static class ParamSelection
{
    public static IReadOnlyList<ExperimentParams> Select(
        IReadOnlyList<(string File, IReadOnlyList<ExperimentParams> Sets)> files,
        IReadOnlyList<string> names, IReadOnlyList<string> indices, IReadOnlyList<string> globalIndices)
    {
        var perFile = indices.Count == 0 ? null : Indices(indices, "--indices");
        var chosen = new List<ExperimentParams>();
        foreach (var (_, sets) in files)
        {
            for (var i = 0; i < sets.Count; i++)
            {
                if (perFile is not null && !perFile.Contains(i)) continue;
                if (names.Count > 0 && !names.Contains(sets[i].Name)) continue;
                chosen.Add(sets[i]);
            }
        }
        foreach (var name in names)
        {
            if (files.All(f => f.Sets.All(s => s.Name != name)))
                throw new ExperimentException($"--names: no parameter set is named '{name}' (there are: {string.Join(", ", files.SelectMany(f => f.Sets).Select(s => s.Name).Distinct())})");
        }
        if (globalIndices.Count == 0) return chosen;
        var global = Indices(globalIndices, "--global-indices");
        return [.. chosen.Where((_, i) => global.Contains(i))];
    }

    /// <summary>The indices that <c>3</c>, <c>0-2</c> and the like name.</summary>
    public static HashSet<int> Indices(IEnumerable<string> specs, string flag)
    {
        var set = new HashSet<int>();
        foreach (var spec in specs)
        {
            var parts = spec.Split('-');
            if (parts.Length == 1 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var one)) set.Add(one);
            else if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var lo)
                && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var hi) && hi >= lo)
                for (var i = lo; i < hi; i++) set.Add(i);
            else throw new ExperimentException($"{flag}: '{spec}' is not an index or a range a-b (lower inclusive, upper exclusive)");
        }
        return set;
    }

    /// <summary>
    /// <c>--parallel N</c>'s split of <paramref name="count"/> sets: each worker gets <c>count / N</c>, the first
    /// <c>count % N</c> one more; workers that would get none are dropped. End-exclusive ranges.
    /// </summary>
    public static IReadOnlyList<(int Start, int End)> ParallelRanges(int count, int workers)
    {
        if (workers < 1) throw new ExperimentException($"--parallel: {workers} is not a number of processes (1 or more)");
        var ranges = new List<(int, int)>();
        var start = 0;
        for (var w = 0; w < workers; w++)
        {
            var size = count / workers + (w < count % workers ? 1 : 0);
            if (size == 0) continue;
            ranges.Add((start, start + size));
            start += size;
        }
        return ranges;
    }
}
