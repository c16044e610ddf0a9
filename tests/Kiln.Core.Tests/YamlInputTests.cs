using System.Text;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>
/// Issue 11: YAML that must never kill or stall a run. Each probe once failed the trainer (or killed the process outright:
/// a recursive alias overflowed the stack, a 359-byte alias bomb took 1.77 GB); now each is one error with its line.
/// </summary>
public sealed class YamlInputTests
{
    public static TheoryData<string, string> Probes() => new()
    {
        { YamlProbes.Malformed, "line 2, column 1: malformed YAML (check brackets, quotes and indentation)" },
        { YamlProbes.DeepFlow, "nesting deeper than 64 levels" },
        { YamlProbes.DeepBlock, "nesting deeper than 64 levels" },
        { YamlProbes.RecursiveSequence, "line 1, column 11: alias *a refers to the node it is part of" },
        { YamlProbes.RecursiveMapping, "alias *a refers to the node it is part of" },
        { YamlProbes.BillionLaughs, "aliases expand to more than 100000 nodes" },
        { "a: *nothing\n", "alias *nothing refers to no anchor &nothing before it" },
        { "&k key: 1\n*k : 2\n", "mapping keys must be plain scalars, not aliases" },
        { "x: \"\\U0000D800\"\n", "line 1" },
        { "x: 1e400\n", "x: 1e400 is too large for a number" },
        { "a: 1\n---\nb: 2\n", "line 2: expected one YAML document" },
        { "!<[>\n:\\\"", "malformed YAML (check brackets, quotes and indentation): Global tags must be valid URIs" },
        { "?\n- :\n", "line " },
    };

    [Theory]
    [MemberData(nameof(Probes))]
    public void A_probe_is_one_error_with_its_line(string yaml, string error)
    {
        var ex = Assert.Throws<ProtocolException>(() => YamlJson.Parse(yaml));
        Assert.Contains(error, ex.Message);
        Assert.DoesNotContain("the current state of the object", ex.Message);
        var bytes = Assert.Throws<ProtocolException>(() => YamlJson.Parse(Encoding.UTF8.GetBytes(yaml)));
        Assert.Equal(ex.Message, bytes.Message);
    }

    [Fact]
    public void The_probes_are_refused_without_big_memory()
    {
        // Once: 1.77 GB for the bomb, and the recursive aliases until the process died.
        foreach (var yaml in new[] { YamlProbes.BillionLaughs, YamlProbes.RecursiveSequence, YamlProbes.RecursiveMapping, YamlProbes.DeepFlow, YamlProbes.DeepBlock })
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            Assert.Throws<ProtocolException>(() => YamlJson.Parse(yaml));
            Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 64L << 20);
        }
    }

    [Fact]
    public void The_alias_bomb_is_a_few_hundred_bytes() => Assert.InRange(YamlProbes.BillionLaughs.Length, 300, 400);

    [Fact]
    public void Nesting_up_to_the_limit_reads_and_one_more_level_does_not()
    {
        string Nested(int levels) => new string('[', levels) + "1" + new string(']', levels);
        Assert.Equal(Nested(64), YamlJson.Parse(Nested(64))!.ToJsonString());
        Assert.Contains("line 1, column 65: nesting deeper than 64 levels", Assert.Throws<ProtocolException>(() => YamlJson.Parse(Nested(65))).Message);
    }

    [Fact]
    public void An_alias_may_not_carry_a_node_past_the_depth_limit()
    {
        var deep = new string('[', 40) + new string(']', 40);
        Assert.NotNull(YamlJson.Parse($"a: &d {deep}\nb: *d\n"));
        var ex = Assert.Throws<ProtocolException>(() => YamlJson.Parse($"a: &d {deep}\nb: {new string('[', 30)}*d{new string(']', 30)}\n"));
        Assert.Contains("alias *d nests deeper than 64 levels", ex.Message);
    }

    [Fact]
    public void Aliases_within_the_budget_resolve_and_an_anchor_may_be_defined_again()
    {
        Assert.Equal("""{"a":[1,2],"b":[1,2],"c":{"k":[[1,2]]}}""", YamlJson.Parse("a: &x [1, 2]\nb: *x\nc: {k: [*x]}\n")!.ToJsonString());
        Assert.Equal("""{"a":1,"b":1,"c":2,"d":2}""", YamlJson.Parse("a: &x 1\nb: *x\nc: &x 2\nd: *x\n")!.ToJsonString());
        Assert.Equal("[[1,1],[1,1]]", YamlJson.Parse("- &a [&a 1, *a]\n- *a\n")!.ToJsonString());
        Assert.Equal("""{"key":"v","alias":"key"}""", YamlJson.Parse("&k key: v\nalias: *k\n")!.ToJsonString());
        // 9^5 strings expand within the budget; 9^6 would not.
        var laughs = string.Join("\n", YamlProbes.BillionLaughs.Split('\n')[..5]);
        Assert.NotNull(YamlJson.Parse(laughs));
    }

    [Fact]
    public void A_document_over_one_mebibyte_is_refused_before_it_is_parsed()
    {
        var big = "x: \"" + new string('a', YamlJson.MaxBytes) + "\"\n";
        Assert.Contains("is too large for a YAML file (at most 1048576 bytes)", Assert.Throws<ProtocolException>(() => YamlJson.Parse(big)).Message);
        using var dir = new TempDir("yaml");
        File.WriteAllText(dir.File("big.yaml"), big);
        var ex = Assert.Throws<ProtocolException>(() => YamlJson.ParseFile(dir.File("big.yaml")));
        Assert.StartsWith(dir.File("big.yaml") + ": ", ex.Message);
    }

    [Fact]
    public void Bytes_that_are_not_utf8_and_lone_surrogates_are_errors_with_their_position()
    {
        var bytes = "a: 1\nb: x"u8.ToArray().Concat(new byte[] { 0xFF }).Concat("y\n"u8.ToArray()).ToArray();
        Assert.Contains("line 2, column 5: not valid UTF-8 (byte 0xFF)", Assert.Throws<ProtocolException>(() => YamlJson.Parse(bytes)).Message);
        Assert.Contains("line 2, column 4: not text (a lone surrogate)", Assert.Throws<ProtocolException>(() => YamlJson.Parse("a: 1\nb: \ud800\n")).Message);
        Assert.Equal("""{"a":1}""", YamlJson.Parse("\uFEFFa: 1\n"u8.ToArray())!.ToJsonString());
    }

    [Fact]
    public void A_file_that_cannot_be_read_is_a_protocol_error()
    {
        using var dir = new TempDir("yaml");
        Assert.Contains("file not found", Assert.Throws<ProtocolException>(() => YamlJson.ParseFile(dir.File("none.yaml"))).Message);
        Assert.StartsWith(dir.Path + ": cannot read", Assert.Throws<ProtocolException>(() => YamlJson.ParseFile(dir.Path)).Message);
    }

    // ---- the same probes written to kiln.yaml while a run trains ----

    [Theory]
    [MemberData(nameof(Probes))]
    public void A_probe_written_to_kiln_yaml_while_the_run_trains_is_rejected_and_the_previous_settings_stay(string yaml, string error)
    {
        using var h = new Harness();
        h.Run.WriteConfig("version: 1\nopt:\n  params: {lr: 0.02}\n");
        h.Step(0);
        Assert.Equal(0.02, h.Lr());

        h.Run.WriteConfig(yaml);
        h.Step(1);
        h.Step(2);
        var line = Assert.Single(h.Run.Decisions());
        Assert.Equal(("core", "config", Decision.Rejected), (line.Module, line.Op, line.Decision));
        Assert.StartsWith("kiln.yaml: ", line.Error);
        Assert.Contains(error, line.Error);
        Assert.EndsWith("the previous settings stay", line.Error);
        Assert.Equal(0.02, h.Lr());

        h.Run.WriteConfig("version: 1\nopt:\n  params: {lr: 0.03}\n");
        h.Step(3);
        Assert.Equal(0.03, h.Lr());
    }

    [Fact]
    public void A_kiln_yaml_over_the_size_limit_is_rejected_without_being_read()
    {
        using var h = new Harness();
        h.Run.WriteConfig("version: 1\nopt:\n  params: {lr: 0.02}\n");
        h.Step(0);
        h.Run.WriteConfig("version: 1\n#" + new string('x', YamlJson.MaxBytes) + "\n");
        h.Step(1);
        h.Step(2);
        var line = Assert.Single(h.Run.Decisions());
        Assert.Equal(Decision.Rejected, line.Decision);
        Assert.Contains("is too large for a YAML file (at most 1048576 bytes); the previous settings stay", line.Error);
        Assert.Equal(0.02, h.Lr());
    }

    [Theory]
    [InlineData("100000000000", "got 100000000000")]
    [InlineData("3000000000", "got 3000000000")]
    [InlineData("-5", "got -5")]
    [InlineData("1e20", "got 1e+20")]
    [InlineData("2.5", "kernel.debounce_steps: expected an integer, got 2.5")]
    public void Debounce_steps_out_of_range_is_reported_as_written_with_the_range(string value, string shown)
    {
        using var h = new Harness();
        h.Run.WriteConfig($"version: 1\nkernel: {{debounce_steps: {value}}}\n");
        h.Step(0);
        var line = Assert.Single(h.Run.Ledger());
        Assert.Equal(Decision.Rejected, line.Decision);
        Assert.Contains(shown, line.Error);
        if (!value.Contains('.', StringComparison.Ordinal))
            Assert.Contains("kernel.debounce_steps: must be an integer from 1 to 2147483647, " + shown, line.Error);
        Assert.DoesNotContain("-727379968", line.Error);
    }
}
