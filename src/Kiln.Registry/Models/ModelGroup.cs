using System.Text.Json.Nodes;
using Kiln.Registry.Records;

namespace Kiln.Registry.Models;

/// <summary>
/// The models of one architecture, newest first, as <c>kiln models</c> shows them (numb's <c>list</c>): the
/// architecture's summary once, then each training with its hyper-parameters and trial result.
/// </summary>
/// <param name="Fingerprint">The architecture; null gathers runs that reported none.</param>
public sealed record ModelGroup(string? Fingerprint, string? Summary, IReadOnlyList<RunRecord> Models)
{
    /// <summary>When the newest of them started (unix seconds).</summary>
    public double? Newest => Models.Count > 0 ? Models[0].Start : null;

    /// <summary>Groups runs by architecture: groups by their newest run and runs within a group, newest first; runs without a start last.</summary>
    public static IReadOnlyList<ModelGroup> From(IEnumerable<RunRecord> runs) =>
        [.. runs
            .GroupBy(r => r.Fingerprint ?? "", StringComparer.Ordinal)
            .Select(g =>
            {
                var models = g.OrderByDescending(r => r.Start ?? double.NegativeInfinity).ThenByDescending(r => r.Id, StringComparer.Ordinal).ToList();
                return new ModelGroup(g.Key.Length == 0 ? null : g.Key, models.Select(m => m.ArchitectureSummary).FirstOrDefault(s => s is not null), models);
            })
            .OrderByDescending(g => g.Newest ?? double.NegativeInfinity)
            .ThenBy(g => g.Fingerprint, StringComparer.Ordinal)];

    public JsonObject ToJson() => new()
    {
        ["fingerprint"] = Fingerprint,
        ["summary"] = Summary,
        ["newest"] = Newest,
        ["count"] = Models.Count,
        ["models"] = new JsonArray([.. Models.Select(m => (JsonNode)m.ToJson())]),
    };
}
