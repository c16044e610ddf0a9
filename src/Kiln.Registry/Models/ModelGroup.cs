using Kiln.Registry.Records;

namespace Kiln.Registry.Models;

/// <summary>
/// The models of one architecture, newest first, as <c>kiln models</c> shows them (numb's <c>list</c>): the
/// architecture's summary once, then each training with its hyper-parameters and trial result.
/// </summary>
/// <param name="Fingerprint">The architecture; null gathers runs that reported none.</param>
public sealed record ModelGroup<T>(string? Fingerprint, string? Summary, IReadOnlyList<T> Models, double? Newest)
{
    public int Count => Models.Count;
}

/// <summary>Grouping by architecture: groups by their newest run and runs within a group, newest first; runs without a start last.</summary>
public static class ModelGroup
{
    public static IReadOnlyList<ModelGroup<RunRecord>> From(IEnumerable<RunRecord> runs) =>
        Group(runs, r => r.Fingerprint, r => r.Start, r => r.Id, r => r.ArchitectureSummary);

    public static IReadOnlyList<ModelGroup<RunJson>> From(IEnumerable<RunJson> runs) =>
        Group(runs, r => r.Fingerprint, r => r.Start, r => r.Id, r => r.Summary);

    private static List<ModelGroup<T>> Group<T>(IEnumerable<T> runs, Func<T, string?> fingerprint, Func<T, double?> start, Func<T, string> id, Func<T, string?> summary) =>
        [.. runs
            .GroupBy(r => fingerprint(r) ?? "", StringComparer.Ordinal)
            .Select(g =>
            {
                var models = g.OrderByDescending(r => start(r) ?? double.NegativeInfinity).ThenByDescending(id, StringComparer.Ordinal).ToList();
                return new ModelGroup<T>(g.Key.Length == 0 ? null : g.Key, models.Select(summary).FirstOrDefault(s => s is not null), models, start(models[0]));
            })
            .OrderByDescending(g => g.Newest ?? double.NegativeInfinity)
            .ThenBy(g => g.Fingerprint, StringComparer.Ordinal)];

}
