using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using Kiln.IO;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>k=v parsing, YAML reading, JSONL appends and the tail reader.</summary>
public sealed class ProtocolTests
{
    [Fact]
    public void Key_values_parse_as_the_command_line_documents()
    {
        var values = KeyValueParser.Parse(["a=1", "b=2.5", "c=true", """m={"x":1}""", "e=x=y", "lr=1e-4", "z=0", "n=-3", "s=foo", "f=false", "l=[1,2]", "nan=NaN", "nul=null", "sp=two words"]);
        Assert.Equal("""{"a":1,"b":2.5,"c":true,"m":{"x":1},"e":"x=y","lr":0.0001,"z":0,"n":-3,"s":"foo","f":false,"l":[1,2],"nan":"NaN","nul":null,"sp":"two words"}""", values.ToJsonString());
        Assert.True(JsonValues.IsNumber(values["lr"]));
    }

    [Theory]
    [InlineData("novalue", "'novalue': expected key=value")]
    [InlineData("=3", "the key before '=' is empty")]
    [InlineData("m={bad", "m: value {bad is not valid JSON")]
    [InlineData("m={\"a\":1,\"a\":2}", "m: value {\"a\":1,\"a\":2} is not valid JSON")]
    [InlineData("m=[\"main\\ud800\"]", "m: value [\"main\\ud800\"] is not valid JSON")]
    public void Bad_key_values_name_the_argument(string pair, string error)
    {
        var ex = Assert.Throws<ProtocolException>(() => KeyValueParser.Parse([pair]));
        Assert.Contains(error, ex.Message);
    }

    [Fact]
    public void A_lone_surrogate_in_a_key_or_value_is_an_error_not_a_value_that_fails_later()
    {
        // Built here rather than in [InlineData]: the test runner would replace the surrogate when it serializes the case.
        Assert.Contains("name: the value is not text (a lone surrogate)", Assert.Throws<ProtocolException>(() => KeyValueParser.Parse(["name=main\ud800"])).Message);
        Assert.Contains("the key is not text (a lone surrogate)", Assert.Throws<ProtocolException>(() => KeyValueParser.Parse(["k\udc00=1"])).Message);
    }

    [Fact]
    public void A_key_given_twice_is_an_error() =>
        Assert.Contains("lr: given twice", Assert.Throws<ProtocolException>(() => KeyValueParser.Parse(["lr=1", "lr=2"])).Message);

    [Fact]
    public void Every_finite_double_survives_the_round_trip_through_k_v_text()
    {
        var gen = ArbMap.Default.GeneratorFor<double>().Where(double.IsFinite);
        Prop.ForAll(gen.ToArbitrary(), d =>
        {
            var node = KeyValueParser.ParseValue(d.ToString("R", CultureInfo.InvariantCulture), "x");
            return JsonValues.TryGetDouble(node, out var back) && back == d;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Yaml_follows_the_core_schema()
    {
        var node = YamlJson.Parse("""
            a: 1e-4
            b: 0
            c: yes
            d: "true"
            e: ~
            f: [1, 2.5, -3]
            g: 0x10
            h: True
            i: 1.0e+3
            """)!;
        Assert.Equal("""{"a":0.0001,"b":0,"c":"yes","d":"true","e":null,"f":[1,2.5,-3],"g":16,"h":true,"i":1000}""", node.ToJsonString());
    }

    [Theory]
    [InlineData("a: 1\na: 2\n", "line 2, column 1: Duplicate key a")]
    [InlineData("a: [1, 2\n", "line 2")]
    [InlineData("x:\n  y: .inf\n", "x.y: non-finite number .inf")]
    public void Bad_yaml_is_an_error_with_the_line(string yaml, string error)
    {
        var ex = Assert.Throws<ProtocolException>(() => YamlJson.Parse(yaml));
        Assert.Contains(error, ex.Message);
    }

    [Fact]
    public void Yaml_anchors_and_aliases_resolve() =>
        Assert.Equal("""{"a":{"k":1},"b":{"k":1}}""", YamlJson.Parse("a: &x {k: 1}\nb: *x\n")!.ToJsonString());

    [Fact]
    public void Appending_closes_a_torn_tail_before_writing()
    {
        using var dir = new TempDir();
        var path = dir.File("x.jsonl");
        File.WriteAllText(path, "{\"half\":");
        JsonlFile.Append(path, "{\"ok\":1}"u8.ToArray());
        Assert.Equal("{\"half\":\n{\"ok\":1}\n", File.ReadAllText(path));
    }

    [Fact]
    public void Appending_refuses_oversized_lines_and_embedded_newlines()
    {
        using var dir = new TempDir();
        var path = dir.File("x.jsonl");
        Assert.Throws<ProtocolException>(() => JsonlFile.Append(path, new byte[JsonlFile.MaxLineBytes + 1]));
        Assert.Throws<ArgumentException>(() => JsonlFile.Append(path, "a\nb"u8.ToArray()));
        Assert.False(File.Exists(path) && new FileInfo(path).Length > 0);
    }

    [Fact]
    public void The_tail_returns_exactly_the_complete_lines_however_the_bytes_arrive()
    {
        var gen =
            from count in Gen.Choose(0, 12)
            from lines in Gen.ArrayOf(Gen.Choose(0, 40).Select(n => "{\"v\":\"" + new string('a', n) + "\"}"), count)
            from cuts in Gen.ArrayOf(Gen.Choose(1, 30), 40)
            select (lines, cuts);
        Prop.ForAll(gen.ToArbitrary(), input =>
        {
            using var dir = new TempDir("tail");
            var path = dir.File("t.jsonl");
            var bytes = Encoding.UTF8.GetBytes(string.Concat(input.lines.Select(l => l + "\n")));
            var tail = new JsonlTail(path);
            var seen = new List<string>();
            var buffer = new List<JsonlLine>();
            var at = 0;
            var cut = 0;
            while (at < bytes.Length)
            {
                var n = Math.Min(input.cuts[cut++ % input.cuts.Length], bytes.Length - at);
                using (var fs = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) fs.Write(bytes, at, n);
                at += n;
                tail.Poll(buffer);
                seen.AddRange(buffer.Select(l => Encoding.UTF8.GetString(l.Bytes.Span)));
            }
            tail.Poll(buffer);
            seen.AddRange(buffer.Select(l => Encoding.UTF8.GetString(l.Bytes.Span)));
            return seen.SequenceEqual(input.lines) && tail.PendingBytes == 0;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void The_tail_reads_a_replaced_file_from_the_start()
    {
        using var dir = new TempDir();
        var path = dir.File("t.jsonl");
        File.WriteAllText(path, "{\"a\":1}\n{\"a\":2}\n");
        var tail = new JsonlTail(path);
        var lines = new List<JsonlLine>();
        Assert.Equal(2, tail.Poll(lines));
        File.WriteAllText(path, "{\"b\":1}\n");
        Assert.Equal(1, tail.Poll(lines));
        Assert.True(tail.Restarted);
        Assert.Equal("{\"b\":1}", Encoding.UTF8.GetString(lines[0].Bytes.Span));
        Assert.Equal(1, lines[0].Number);
    }

    [Fact]
    public void Blank_lines_and_crlf_endings_are_tolerated()
    {
        using var dir = new TempDir();
        var path = dir.File("t.jsonl");
        File.WriteAllText(path, "\n  \n{\"a\":1}\r\n\n{\"a\":2}\n");
        var got = new List<(long, string)>();
        JsonlTail.ReadAll(path, l => got.Add((l.Number, Encoding.UTF8.GetString(l.Bytes.Span))));
        Assert.Equal([(3L, "{\"a\":1}"), (5L, "{\"a\":2}")], got);
    }

    [Fact]
    public void Atomic_writes_leave_no_temporary_files()
    {
        using var dir = new TempDir();
        var path = dir.File("state.json");
        for (var i = 0; i < 20; i++) AtomicFile.WriteJson(path, new JsonObject { ["i"] = i });
        Assert.Equal(["state.json"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
        Assert.Equal(19, (int)JsonNode.Parse(File.ReadAllText(path))!["i"]!);
    }

    [Fact]
    public void An_atomic_write_makes_the_missing_folders_and_fails_clearly_when_it_cannot()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "a", "b", "state.json");
        AtomicFile.WriteAllText(path, "x", durable: false);
        Assert.Equal("x", File.ReadAllText(path));
        // A file where a folder should be: the error names the path, and nothing is left behind.
        File.WriteAllText(Path.Combine(dir.Path, "blocker"), "");
        var blocked = Path.Combine(dir.Path, "blocker", "state.json");
        var error = Assert.ThrowsAny<IOException>(() => AtomicFile.WriteAllText(blocked, "y", durable: false));
        Assert.Contains("blocker", error.Message, StringComparison.Ordinal);
        Assert.Equal(["blocker"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void A_lock_is_exclusive_across_handles_and_released_on_dispose()
    {
        using var dir = new TempDir();
        var path = dir.File("x.lock");
        using (var first = FileLock.Acquire(path))
        {
            Assert.False(FileLock.TryAcquire(path, out _));
            var ex = Assert.Throws<IOException>(() => FileLock.Acquire(path, TimeSpan.FromMilliseconds(30)));
            Assert.Contains("another process holds it", ex.Message);
        }
        Assert.True(FileLock.TryAcquire(path, out var again));
        again!.Dispose();
    }

    [Fact]
    public void Commands_round_trip_and_unknown_fields_are_rejected()
    {
        var cmd = new Command
        {
            Cid = "c", Ts = 1.5, Source = "cli", Module = "cb", Op = "load", Id = "viz",
            Target = new CallbackTarget("file", "cb/Viz.cs", "Viz"), Init = new JsonObject { ["every"] = 5 }, Enabled = false,
        };
        var back = Command.FromJson(JsonNode.Parse(cmd.ToJson().ToJsonString())!);
        Assert.Equal(cmd.ToJson().ToJsonString(), back.ToJson().ToJsonString());

        var ex = Assert.Throws<ProtocolException>(() => Command.FromJson(JsonNode.Parse("""{"module":"cb","op":"load","target":{"kind":"python_file","path":"x"}}""")!));
        Assert.Contains("target.kind: unknown kind \"python_file\"", ex.Message);
    }

    [Fact]
    public void Freeze_states_are_checked()
    {
        Assert.Contains("recipe_path: mode replay needs a recipe", Assert.Throws<ProtocolException>(() => FreezeState.FromJson(JsonNode.Parse("""{"mode":"replay"}"""))).Message);
        Assert.Contains("adjust_path: mode replay_adjusted needs an adjust file", Assert.Throws<ProtocolException>(() => FreezeState.FromJson(JsonNode.Parse("""{"mode":"replay_adjusted","recipe_path":"r"}"""))).Message);
        Assert.Contains("policy: unknown policy \"lenient\"", Assert.Throws<ProtocolException>(() => FreezeState.FromJson(JsonNode.Parse("""{"mode":"prod","policy":"lenient"}"""))).Message);
        var ok = FreezeState.FromJson(JsonNode.Parse("""{"mode":"replay","recipe_path":"r","step_offset":100,"policy":"strict"}"""));
        Assert.Equal((100L, true), (ok.StepOffset, ok.IsReplay));
    }
}
