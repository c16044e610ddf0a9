using FsCheck;
using FsCheck.Fluent;
using Kiln.Testing;
using Kiln.Trials.Expansion;

namespace Kiln.Trials.Tests;

/// <summary>
/// Issue 11 for config trees: a cfg.yaml that once crashed or hung the expander (a recursive alias overflowed the stack,
/// an alias bomb took gigabytes) is now an error naming the file and the line, and the other leaves still expand.
/// </summary>
public sealed class YamlProbeTests
{
    public static TheoryData<string, string> Probes() => new()
    {
        { "seed: 0\nlr: [0.1, 0.2\nseed: {", ": line 3, column " },
        { "seed: 0\nlr: " + new string('[', 1000) + "0.1" + new string(']', 1000) + "\n", ": line 2, column 68: nesting deeper than 64 levels" },
        { "seed: 0\nx: &a [1, *a]\n", ": line 2, column 11: alias *a refers to the node it is part of" },
        { "&a {seed: 0, self: *a}\n", ": line 1, column 20: alias *a refers to the node it is part of" },
        { "seed: 0\n" + YamlProbes.BillionLaughs, ": line 7, column 8: aliases expand to more than 100000 nodes" },
        { "seed: 0\nlr: 1e400\n", ": line 2: lr: 1e400 is too large for a number" },
        { "seed: 0\nname: \"\\ud800\"\n", ": line 2, column " },
        { "seed: 0\n#" + new string('x', 1 << 20) + "\n", ": 1048586 bytes is too large for a YAML file (at most 1048576 bytes)" },
    };

    [Theory]
    [MemberData(nameof(Probes))]
    public void A_probe_in_a_leaf_is_an_error_naming_the_file_and_line_and_the_other_leaves_expand(string yaml, string error)
    {
        using var tree = new Tree().Cfg("sweep/d/m/bad", yaml).Cfg("sweep/d/m/ok", "seed: 0\nlr: [1, 2]\n");
        var result = tree.Expand();
        var message = Assert.Single(result.Errors);
        Assert.StartsWith(Path.Combine("cfg", "sweep", "d", "m", "bad", "cfg.yaml") + error, message);
        Assert.Equal(2, Assert.Single(result.Leaves).Trials.Count);
    }

    [Fact]
    public void A_probe_in_an_ancestor_fails_each_leaf_below_it_naming_the_ancestor()
    {
        using var tree = new Tree().Cfg("sweep", "x: &a [1, *a]\n").Cfg("sweep/d/m/a", "seed: 0\n").Cfg("sweep/d/m/b", "seed: 1\n").Cfg("experiment/d/m/c", "seed: 2\n");
        var result = tree.Expand();
        Assert.Equal(2, result.Errors.Count);
        Assert.All(result.Errors, e => Assert.StartsWith(Path.Combine("cfg", "sweep", "cfg.yaml") + ": line 1, column 11: alias *a", e));
        Assert.Single(result.Leaves);
    }

    [Fact]
    public void Any_cfg_yaml_anywhere_in_a_tree_expands_or_is_an_error_naming_its_file()
    {
        Prop.ForAll(Gen.Choose(0, int.MaxValue).ToArbitrary(), seed =>
        {
            var r = new Random(seed);
            using var tree = new Tree();
            foreach (var level in new[] { "", "sweep", "sweep/d", "sweep/d/m", "sweep/d/m/t", "experiment/d/m/t" })
            {
                if (r.Next(3) == 0) continue;
                var path = Path.Combine(tree.Root, "cfg", level, "cfg.yaml");
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllBytes(path, r.Next(4) == 0 ? BadInput.RandomBytes(r, r.Next(0, 60)) : System.Text.Encoding.UTF8.GetBytes(BadInput.Yaml(r)));
            }
            Directory.CreateDirectory(Path.Combine(tree.Root, "cfg"));
            var result = TreeExpander.Expand(tree.Root, write: false);
            Assert.All(result.Errors, e => Assert.StartsWith("cfg" + Path.DirectorySeparatorChar, e));
            return true;
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(150));
    }
}
