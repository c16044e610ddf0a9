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
    public void The_encoding_is_the_documented_one_whatever_its_length()
    {
        // Cache keys made by an earlier Kiln must stay valid: the encoding is tag, little-endian length, UTF-8 bytes,
        // whether it is hashed in one piece or streamed (a value longer than the buffer).
        static byte[] Str(string s)
        {
            var utf8 = System.Text.Encoding.UTF8.GetBytes(s);
            return [(byte)'s', .. BitConverter.GetBytes(utf8.Length), .. utf8];
        }
        foreach (var text in new[] { "short", new string('é', 5000) })
        {
            var list = new[] { text, "x" };
            byte[] expected = [(byte)'L', .. Str("seq"), .. BitConverter.GetBytes(2), .. Str(text), .. Str("x")];
            Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(expected)), Fingerprint.Of(list, "v"));
        }
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

public class ParamSelectionTests
{
    private static readonly IReadOnlyList<(string, IReadOnlyList<ExperimentParams>)> Files =
    [
        ("params1", [new P { Name = "a" }]),
        ("params2", [new P { Name = "b", A = 1 }, new P { Name = "c", A = 2 }]),
    ];

    private static string Names(IReadOnlyList<ExperimentParams> sets) => string.Join(",", sets.Select(s => s.Name));

    [Fact]
    public void Indices_select_per_file_and_global_indices_over_the_whole_list()
    {
        Assert.Equal("a,b,c", Names(Runs.ParamSelection.Select(Files, [], ["0-2"], [])));
        Assert.Equal("a,b", Names(Runs.ParamSelection.Select(Files, [], ["0"], [])));
        Assert.Equal("b,c", Names(Runs.ParamSelection.Select(Files, [], [], ["1-3"])));
        Assert.Equal("c", Names(Runs.ParamSelection.Select(Files, ["b", "c"], [], ["1"])));
    }

    [Fact]
    public void An_unknown_name_or_a_bad_range_is_an_error_naming_it()
    {
        Assert.Contains("'zz'", Assert.Throws<Loading.ExperimentException>(() => Runs.ParamSelection.Select(Files, ["zz"], [], [])).Message, StringComparison.Ordinal);
        Assert.Contains("'3-1'", Assert.Throws<Loading.ExperimentException>(() => Runs.ParamSelection.Select(Files, [], ["3-1"], [])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parallel_ranges_split_like_curifactory()
    {
        Assert.Equal([(0, 1), (1, 2), (2, 3)], Runs.ParamSelection.ParallelRanges(3, 3));
        Assert.Equal([(0, 1), (1, 2), (2, 3)], Runs.ParamSelection.ParallelRanges(3, 4));
        Assert.Equal([(0, 3), (3, 6), (6, 8)], Runs.ParamSelection.ParallelRanges(8, 3));
    }
}
