using System.Text.Json.Nodes;

namespace Kiln.Registry.Store;

/// <summary>
/// Which runs to list and in what order (<see cref="RegistryDb.Query"/>). By default: trained models (a fingerprint and
/// weights), newest first. Every filter given must hold.
/// </summary>
public sealed record ModelQuery
{
    /// <summary>Only trained models (a run that reported its architecture and saved weights); false lists every run.</summary>
    public bool ModelsOnly { get; init; } = true;

    /// <summary>Only this architecture: a prefix of its fingerprint.</summary>
    public string? Architecture { get; init; }

    /// <summary>true: only runs with a trial result; false: only runs without one.</summary>
    public bool? Trialled { get; init; }

    /// <summary>Hyper-parameters that must have these values, compared as JSON values (<c>lr=0.001</c> matches 1e-3, not "0.001").</summary>
    public JsonObject Params { get; init; } = [];

    /// <summary>Only these kinds (launch, trial, train, …); empty: any.</summary>
    public IReadOnlyList<string> Kinds { get; init; } = [];

    /// <summary>Only these statuses; empty: any.</summary>
    public IReadOnlyList<string> Statuses { get; init; } = [];

    /// <summary>Text that the id, directory, config, hyper-parameters, architecture or error must contain (case-insensitive for ASCII).</summary>
    public string? Text { get; init; }

    /// <summary>
    /// started (the default), ended, id, kind, status, trialled_at, fingerprint, or a value inside the JSON columns:
    /// <c>param.&lt;key&gt;</c>, <c>metric.&lt;name&gt;</c>, <c>result.&lt;name&gt;</c>. Ties fall back to the id.
    /// </summary>
    public string Sort { get; init; } = "started";

    /// <summary>Largest first (newest first for times).</summary>
    public bool Descending { get; init; } = true;

    /// <summary>At most this many runs; null: all.</summary>
    public int? Limit { get; init; }

    /// <summary>Skip this many runs first (paging).</summary>
    public int Offset { get; init; }

    /// <summary>Every run, newest first.</summary>
    public static ModelQuery AllRuns { get; } = new() { ModelsOnly = false };
}
