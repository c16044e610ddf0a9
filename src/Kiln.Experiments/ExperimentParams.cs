using Kiln.Experiments.Hashing;

namespace Kiln.Experiments;

/// <summary>
/// The base of a parameter set (curifactory's <c>ExperimentParameters</c>): derive a record from it and return a list of
/// them from a parameters file's <c>GetParams()</c>. <see cref="Name"/> and <see cref="Overwrite"/> label and steer a
/// run without changing what it computes, so they are left out of <see cref="Hash"/> (as are members marked
/// <see cref="NotHashedAttribute"/>).
/// </summary>
public abstract record ExperimentParams
{
    internal static readonly IReadOnlySet<string> Excluded = new HashSet<string>(StringComparer.Ordinal) { nameof(Name), nameof(Overwrite), nameof(Hash), nameof(ShortHash) };

    // Kept beside the record, not in it: a field would take part in the record's equality.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ExperimentParams, string> Hashes = new();

    public string Name { get; init; } = "UNNAMED";

    /// <summary>Recompute every stage of this parameter set, ignoring the cache.</summary>
    public bool Overwrite { get; init; }

    /// <summary>
    /// The parameter hash: SHA-256 (hex) of the typed, length-prefixed encoding of every hashed member
    /// (<see cref="Fingerprint"/>). Computed on first use and kept: a record is immutable, so it cannot go stale.
    /// </summary>
    public string Hash
    {
        get => Hashes.GetValue(this, p =>
        {
            var f = new Fingerprint();
            f.AddParams(p, $"params '{p.Name}'");
            return f.Hex();
        });
    }

    /// <summary>The hash as file names and listings show it (128 bits).</summary>
    public string ShortHash => Hash[..32];
}
