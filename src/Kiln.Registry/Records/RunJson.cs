namespace Kiln.Registry.Records;

/// <summary>
/// A run's record as JSON text, made by the database itself (the same fields as <see cref="RunRecord.ToJson"/>), with
/// what listing needs to group and order it: for listings of thousands of runs, where building objects only to
/// serialize them again would cost most of the time.
/// </summary>
public sealed record RunJson(string Id, string? Fingerprint, string? Summary, double? Start, string Json);
