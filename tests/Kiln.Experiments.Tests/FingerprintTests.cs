using Kiln.Experiments.Hashing;

namespace Kiln.Experiments.Tests;

public sealed record Pair : ExperimentParams
{
    public string X { get; init; } = "";
    public string Y { get; init; } = "";
}

public sealed record Loose : ExperimentParams
{
    public object? Value { get; init; }
    [NotHashed] public string Note { get; init; } = "";
}

public sealed record Nested : ExperimentParams
{
    public P Inner { get; init; } = new();
}

public class FingerprintTests
{
    [Fact]
    public void Parts_that_would_collide_under_concatenation_do_not()
    {
        Assert.NotEqual(new Pair { X = "ab", Y = "c" }.Hash, new Pair { X = "a", Y = "bc" }.Hash);
        Assert.NotEqual(Fingerprint.Of(new[] { "ab", "c" }, "v"), Fingerprint.Of(new[] { "a", "bc" }, "v"));
    }

    [Fact]
    public void Values_of_different_types_do_not_collide()
    {
        Assert.NotEqual(new Loose { Value = 1 }.Hash, new Loose { Value = "1" }.Hash);
        Assert.NotEqual(new Loose { Value = 1 }.Hash, new Loose { Value = 1L }.Hash);
        Assert.NotEqual(new Loose { Value = 1 }.Hash, new Loose { Value = 1.0 }.Hash);
        Assert.NotEqual(new Loose { Value = null }.Hash, new Loose { Value = "" }.Hash);
    }

    [Fact]
    public void Name_overwrite_and_not_hashed_members_are_excluded()
    {
        var a = new P { Name = "one", A = 5, B = 8 };
        Assert.Equal(a.Hash, (a with { Name = "two" }).Hash);
        Assert.Equal(a.Hash, (a with { Overwrite = true }).Hash);
        Assert.Equal(new Loose { Value = 3, Note = "x" }.Hash, new Loose { Value = 3, Note = "y" }.Hash);
        Assert.NotEqual(a.Hash, (a with { B = 6 }).Hash);
        Assert.NotEqual(new P { A = 5, B = 6 }.Hash, new P { A = 6, B = 5 }.Hash);
    }

    [Fact]
    public void A_hash_is_stable_and_a_copy_with_changes_gets_its_own()
    {
        var a = new P { A = 1, B = 2 };
        var before = a.Hash;
        Assert.Equal(before, new P { A = 1, B = 2 }.Hash);
        var changed = a with { A = 3 };
        Assert.NotEqual(before, changed.Hash);
        Assert.Equal(64, before.Length);
    }

    [Fact]
    public void Nested_records_and_collections_are_part_of_the_hash()
    {
        Assert.NotEqual(new Nested { Inner = new P { A = 1 } }.Hash, new Nested { Inner = new P { A = 2 } }.Hash);
        Assert.NotEqual(new Loose { Value = new[] { 1, 2 } }.Hash, new Loose { Value = new[] { 2, 1 } }.Hash);
        var d1 = new Dictionary<string, int> { ["a"] = 1, ["b"] = 2 };
        var d2 = new Dictionary<string, int> { ["b"] = 2, ["a"] = 1 };
        Assert.Equal(new Loose { Value = d1 }.Hash, new Loose { Value = d2 }.Hash);
        Assert.Equal(new Loose { Value = new HashSet<string> { "x", "y", "z" } }.Hash, new Loose { Value = new HashSet<string> { "z", "y", "x" } }.Hash);
    }

    [Fact]
    public void A_value_that_cannot_be_fingerprinted_is_an_error_naming_it()
    {
        using var stream = new MemoryStream();
        var ex = Assert.Throws<FingerprintException>(() => new Loose { Name = "bad", Value = stream }.Hash);
        Assert.Contains("params 'bad'.Value", ex.Message, StringComparison.Ordinal);
        var opaque = Assert.Throws<FingerprintException>(() => new Loose { Value = new object() }.Hash);
        Assert.Contains("Value", opaque.Message, StringComparison.Ordinal);
        Assert.Contains("no public properties", opaque.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_cycle_is_an_error_not_a_constant()
    {
        var list = new List<object>();
        list.Add(list);
        var ex = Assert.Throws<FingerprintException>(() => Fingerprint.Of(list, "cyclic"));
        Assert.Contains("cyclic", ex.Message, StringComparison.Ordinal);
    }
}
