using System.Text;
using System.Text.Json.Nodes;
using System.Text.Unicode;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>
/// Issue 11: no inbox line can kill the trainer. Bytes that are not text, escapes that are not characters and keys given
/// twice each get one <c>rejected</c> ledger line naming the line and the field, and the commands after them apply.
/// </summary>
public sealed class InboxInputTests
{
    // A command with every field a writer can fill; '§' marks where a test puts a byte that is not UTF-8.
    private const string Template =
        """{"cid":"c1","ts":1,"source":"src","module":"cb","op":"load","id":"viz","params":{"key":"value","list":["item"]},"target":{"kind":"type","path":"Some.Type","symbol":"Sym"},"init":{"every":5},"enabled":true}""";

    public static TheoryData<string, string> Places() => new()
    {
        { "\"cid\":\"c1\"", "\"cid\":\"c§1\"" },
        { "\"source\":\"src\"", "\"source\":\"s§rc\"" },
        { "\"module\":\"cb\"", "\"module\":\"c§b\"" },
        { "\"op\":\"load\"", "\"op\":\"lo§ad\"" },
        { "\"id\":\"viz\"", "\"id\":\"v§iz\"" },
        { "\"key\":\"value\"", "\"k§ey\":\"value\"" },
        { "\"key\":\"value\"", "\"key\":\"val§ue\"" },
        { "[\"item\"]", "[\"it§em\"]" },
        { "\"path\":\"Some.Type\"", "\"path\":\"Some§.Type\"" },
        { "\"symbol\":\"Sym\"", "\"sym§bol\":\"Sym\"" },
        { "\"every\":5", "\"ev§ery\":5" },
        { "\"ts\":1", "\"ts\":1§" },
        { "\"enabled\":true", "\"enabled\":tr§ue" },
        { "\"init\":", "\"init\":§" },
    };

    private static byte[] WithByte(string find, string replace, byte bad)
    {
        var text = Template.Replace(find, replace, StringComparison.Ordinal);
        Assert.NotEqual(Template, text);
        var bytes = new List<byte>();
        foreach (var part in text.Split('§'))
        {
            if (bytes.Count > 0) bytes.Add(bad);
            bytes.AddRange(Encoding.UTF8.GetBytes(part));
        }
        bytes.Add((byte)'\n');
        return [.. bytes];
    }

    private static void AppendBytes(RunDir run, byte[] bytes)
    {
        using var fs = new FileStream(run.Files.CommandsPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
        fs.Write(bytes);
    }

    /// <summary>The ledger is UTF-8 text whose every string reads back (no lone surrogate escapes either).</summary>
    private static void AssertLedgerIsText(RunDir run)
    {
        var bytes = File.ReadAllBytes(run.Files.LedgerPath);
        Assert.True(Utf8.IsValid(bytes), "the ledger is not valid UTF-8");
        foreach (var line in Encoding.UTF8.GetString(bytes).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            AssertStringsRead(JsonValues.ParseDocument(Encoding.UTF8.GetBytes(line), "ledger line"));
    }

    private static void AssertStringsRead(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (_, v) in o) AssertStringsRead(v);
                break;
            case JsonArray a:
                foreach (var v in a) AssertStringsRead(v);
                break;
            case JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String:
                _ = v.GetValue<string>();
                break;
        }
    }

    [Theory]
    [MemberData(nameof(Places))]
    public void A_byte_that_is_not_utf8_anywhere_in_a_line_is_rejected_and_the_next_command_applies(string find, string replace)
    {
        foreach (var bad in new byte[] { 0xFF, 0xC0, 0x80, 0xED })
        {
            using var h = new Harness();
            AppendBytes(h.Run, WithByte(find, replace, bad));
            var next = h.Run.Set("opt", """{"lr": 0.004}""");
            h.Step(0);
            h.Step(1);

            var lines = h.Run.Decisions();
            Assert.Equal(2, lines.Count);
            Assert.Equal(Decision.Rejected, lines[0].Decision);
            Assert.StartsWith("kiln.commands.jsonl line 1: ", lines[0].Error);
            Assert.Equal(next, lines[1].Cid);
            Assert.Equal(Decision.Applied, lines[1].Decision);
            Assert.Equal(0.004, h.Lr());
            AssertLedgerIsText(h.Run);
        }
    }

    [Theory]
    [InlineData("\"id\":\"v§iz\"", "id: ")]
    [InlineData("\"k§ey\":\"value\"", "params: ")]
    [InlineData("\"key\":\"val§ue\"", "params.key: ")]
    [InlineData("[\"it§em\"]", "params.list[0]: ")]
    [InlineData("\"path\":\"Some§.Type\"", "target.path: ")]
    [InlineData("\"ev§ery\":5", "init: ")]
    public void The_error_names_the_field_and_shows_the_bad_byte(string replace, string field)
    {
        var find = Places().Select(row => ((string)row[0], (string)row[1])).First(p => p.Item2 == replace).Item1;
        using var h = new Harness();
        AppendBytes(h.Run, WithByte(find, replace, 0xFF));
        h.Step(0);

        var line = Assert.Single(h.Run.Decisions());
        Assert.Equal(Decision.Rejected, line.Decision);
        Assert.StartsWith("kiln.commands.jsonl line 1: " + field, line.Error);
        Assert.Contains("not valid UTF-8", line.Error);
        Assert.Contains("\\xFF", line.Error);
        // What could be read is kept, so the writer finds its command by its cid.
        Assert.Equal("c1", line.Cid);
        Assert.Equal(("cb", "load"), (line.Module, line.Op));
    }

    [Fact]
    public void A_cid_that_is_not_utf8_is_rejected_under_the_line_s_offset()
    {
        using var h = new Harness();
        h.Run.Set("opt", """{"lr": 0.002}""");
        var offset = new FileInfo(h.Run.Files.CommandsPath).Length;
        AppendBytes(h.Run, WithByte("\"cid\":\"c1\"", "\"cid\":\"c§1\"", 0xFE));
        h.Step(0);

        var lines = h.Run.Decisions();
        Assert.Equal(2, lines.Count);
        Assert.Equal($"inbox@{offset}", lines[1].Cid);
        Assert.StartsWith("kiln.commands.jsonl line 2: cid: \"c\\xFE1\" is not valid UTF-8", lines[1].Error);
        AssertLedgerIsText(h.Run);
    }

    [Theory]
    [InlineData("""{"cid":"s1","module":"opt","op":"set_params","id":"main\ud800","params":{"lr":0.1}}""", "id: ", "\\ud800")]
    [InlineData("""{"cid":"s1","module":"opt","op":"set_params","id":"main\udc00\ud800","params":{"lr":0.1}}""", "id: ", "\\udc00")]
    [InlineData("""{"cid":"s1","module":"opt","op":"set_params","params":{"l\uD800r":0.1}}""", "params: ", "\\uD800")]
    [InlineData("""{"cid":"s1","module":"opt","op":"set_params","params":{"lr":"\ud83d"}}""", "params.lr: ", "\\ud83d")]
    [InlineData("""{"cid":"s1","source":"\ud800\ud800","module":"opt","op":"set_params","params":{"lr":0.1}}""", "source: ", "\\ud800")]
    public void A_lone_surrogate_escape_as_python_writes_it_is_rejected(string json, string field, string shown)
    {
        using var h = new Harness();
        h.Run.Send(json);
        var next = h.Run.Set("opt", """{"lr": 0.004}""");
        h.Step(0);

        var lines = h.Run.Decisions();
        Assert.Equal(2, lines.Count);
        Assert.Equal(Decision.Rejected, lines[0].Decision);
        Assert.Equal("s1", lines[0].Cid);
        Assert.StartsWith("kiln.commands.jsonl line 1: " + field, lines[0].Error);
        Assert.Contains("lone surrogate", lines[0].Error);
        Assert.Contains(shown, lines[0].Error);
        Assert.Equal((next, Decision.Applied), (lines[1].Cid, lines[1].Decision));
        Assert.Equal(0.004, h.Lr());
        AssertLedgerIsText(h.Run);
    }

    [Fact]
    public void A_surrogate_pair_escape_is_a_character()
    {
        using var h = new Harness();
        h.Run.Send("""{"cid":"p1","source":"cli \ud83d\ude00","module":"opt","op":"set_params","params":{"lr":0.003}}""");
        h.Step(0);
        var line = Assert.Single(h.Run.Decisions());
        Assert.Equal(Decision.Applied, line.Decision);
        Assert.Equal("cli \U0001F600", line.Source);
        Assert.Equal(0.003, h.Lr());
    }

    [Theory]
    [InlineData("""{"cid":"d1","module":"opt","op":"set_params","params":{"lr":0.1,"lr":0.2}}""", "params: duplicate key \"lr\"")]
    [InlineData("""{"cid":"d1","module":"opt","module":"loss","op":"set_params","params":{"cls_w":2}}""", "duplicate key \"module\"")]
    [InlineData("""{"cid":"d1","module":"opt","op":"set_params","params":{"groups":{"head":{"lr":0.1,"lr":0.2}}}}""", "params.groups.head: duplicate key \"lr\"")]
    [InlineData("""{"cid":"d1","module":"cb","op":"set_params","id":"x","params":{"a":[{"k":1,"k":2}]}}""", "params.a[0]: duplicate key \"k\"")]
    public void A_key_given_twice_is_rejected_not_failed(string json, string error)
    {
        using var h = new Harness();
        h.Run.Send(json);
        var next = h.Run.Set("opt", """{"lr": 0.004}""");
        h.Step(0);

        var lines = h.Run.Decisions();
        Assert.Equal(2, lines.Count);
        Assert.Equal(Decision.Rejected, lines[0].Decision);
        Assert.Equal("d1", lines[0].Cid);
        Assert.StartsWith("kiln.commands.jsonl line 1: ", lines[0].Error);
        Assert.Contains(error, lines[0].Error);
        Assert.Equal(Decision.Applied, lines[1].Decision);
        Assert.Equal(0.004, h.Lr());
        Assert.Equal(1.0, h.Loss.GetWeight("cls"));
    }

    [Fact]
    public void A_bad_line_is_decided_once_across_restarts_and_a_cid_it_reused_is_still_answered()
    {
        using var h = new Harness();
        h.Run.Send("""{"cid":"r1","module":"opt","op":"set_params","params":{"lr":0.1,"lr":0.2}}""");
        h.Step(0);
        h.Restart();
        // The writer fixes its command but keeps the cid: it is told so, once, also after another restart.
        h.Run.Send("""{"cid":"r1","module":"opt","op":"set_params","params":{"lr":0.2}}""");
        h.Step(1);
        h.Restart();
        h.Step(2);

        var lines = h.Run.Decisions();
        Assert.Equal(2, lines.Count);
        Assert.Equal(("r1", Decision.Rejected), (lines[0].Cid, lines[0].Decision));
        Assert.Equal(Decision.Rejected, lines[1].Decision);
        Assert.StartsWith("r1#", lines[1].Cid);
        Assert.Contains("duplicate cid r1", lines[1].Error);
        Assert.Equal(0.01, h.Lr());
    }

    [Fact]
    public void A_huge_value_in_a_rejected_command_keeps_its_ledger_line_under_the_line_limit()
    {
        using var h = new Harness();
        var big = new string('x', 900_000);
        h.Run.Send($$$"""{"cid":"b1","module":"opt","op":"set_params","params":{"lr":"{{{big}}}","weight_decay":"{{{big[..100_000]}}}"}}""");
        var next = h.Run.Set("opt", """{"lr": 0.004}""");
        h.Step(0);

        var lines = h.Run.Decisions();
        Assert.Equal(2, lines.Count);
        Assert.Equal(("b1", Decision.Rejected), (lines[0].Cid, lines[0].Decision));
        Assert.Contains("lr: expected a number", lines[0].Error);
        Assert.True(lines[0].Error!.Length < 1000, "the error quotes a short excerpt of the value");
        Assert.Equal((next, Decision.Applied), (lines[1].Cid, lines[1].Decision));
        Assert.All(File.ReadAllLines(h.Run.Files.LedgerPath), l => Assert.True(Encoding.UTF8.GetByteCount(l) <= 1 << 20));
    }

    [Fact]
    public void A_huge_applied_change_keeps_its_payload_and_its_ledger_line_under_the_line_limit()
    {
        using var h = new Harness();
        var callback = new CountingCallback("big");
        h.Kernel.AddCallback(callback);
        var big = new string('y', 700_000);
        h.Run.Send($$$"""{"cid":"b2","module":"cb","op":"set_params","id":"big","params":{"blob":"{{{big}}}"}}""");
        var next = h.Run.Set("opt", """{"lr": 0.004}""");
        h.Step(0);

        var lines = h.Run.Decisions();
        Assert.Equal(2, lines.Count);
        Assert.Equal(("b2", Decision.Applied), (lines[0].Cid, lines[0].Decision));
        Assert.Equal((next, Decision.Applied), (lines[1].Cid, lines[1].Decision));
        Assert.All(File.ReadAllLines(h.Run.Files.LedgerPath), l => Assert.True(Encoding.UTF8.GetByteCount(l) <= 1 << 20));
    }
}
