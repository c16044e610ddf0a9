using System.Text;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using Kiln.Protocol;
using Kiln.Replay;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>
/// Issue 11 as properties: whatever bytes reach the inbox, a recipe or a YAML file, the readers answer with a decision or
/// a <see cref="ProtocolException"/>, never another exception. Cases come from seeds (<see cref="BadInput"/>), so a
/// counterexample FsCheck prints is reproduced from its numbers.
/// </summary>
public sealed class InputPropertyTests
{
    private static readonly Config Many = Config.QuickThrowOnFailure.WithMaxTest(150);

    /// <summary>An inbox: lines of every kind, written in chunks between safe points, with restarts of the kernel.</summary>
    private sealed record InboxCase(int Seed, int Lines, int[] Chunks, int[] Restarts, bool TornTail);

    private static readonly Gen<InboxCase> Inboxes =
        from seed in Gen.Choose(0, int.MaxValue)
        from lines in Gen.Choose(1, 30)
        from chunks in Gen.ArrayOf(Gen.Choose(1, 400), 12)
        from restarts in Gen.ArrayOf(Gen.Choose(0, 12), 2)
        from torn in Gen.Elements(true, false)
        select new InboxCase(seed, lines, chunks, restarts, torn);

    [Fact]
    public void Any_bytes_in_the_inbox_get_exactly_one_decision_per_complete_line_and_a_torn_tail_waits()
    {
        Prop.ForAll(Inboxes.ToArbitrary(), c =>
        {
            var r = new Random(c.Seed);
            var bytes = new List<byte>();
            var good = new List<string>();
            for (var i = 0; i < c.Lines; i++)
            {
                if (r.Next(3) == 0)
                {
                    var cid = $"good-{i}";
                    good.Add(cid);
                    bytes.AddRange(BadInput.GoodCommand(r, cid));
                }
                else bytes.AddRange(BadInput.Line(r));
                bytes.Add((byte)'\n');
            }
            var tail = BadInput.GoodCommand(r, "tail");
            if (c.TornTail) bytes.AddRange(tail[..(tail.Length / 2)]);

            using var h = new Harness();
            var all = bytes.ToArray();
            var at = 0;
            var step = 0L;
            for (var chunk = 0; at < all.Length; chunk++)
            {
                var n = Math.Min(c.Chunks[chunk % c.Chunks.Length], all.Length - at);
                Append(h.Run, all.AsSpan(at, n));
                at += n;
                if (c.Restarts.Contains(chunk)) h.Restart();
                h.Step(step++);
            }
            h.Step(step++);

            var audit = InboxAudit.Of(h.Dir);
            Assert.True(audit.Ok, audit + "\n" + InboxAudit.LedgerText(h.Dir));
            foreach (var cid in good)
                Assert.Equal(Decision.Applied, Assert.Single(audit.Decisions, d => d.Cid == cid).Decision);
            if (c.TornTail)
            {
                Assert.DoesNotContain(audit.Decisions, d => d.Cid == "tail");
                Append(h.Run, tail.AsSpan(tail.Length / 2));
                Append(h.Run, "\n"u8);
                h.Step(step);
                Assert.Equal(Decision.Applied, Assert.Single(InboxAudit.Of(h.Dir).Decisions, d => d.Cid == "tail").Decision);
            }
        }).Check(Many);
    }

    private static void Append(RunDir run, ReadOnlySpan<byte> bytes)
    {
        using var fs = new FileStream(run.Files.CommandsPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
        fs.Write(bytes);
    }

    [Fact]
    public void Any_json_document_parses_to_readable_text_or_a_protocol_error()
    {
        Prop.ForAll(Gen.Choose(0, int.MaxValue).ToArbitrary(), seed =>
        {
            var r = new Random(seed);
            var bytes = r.Next(2) == 0 ? BadInput.Json(r, 0) : BadInput.Line(r);
            JsonNode node;
            try { node = JsonValues.ParseDocument(bytes, "line"); }
            catch (ProtocolException ex) { return ex.Message.Length > "line: ".Length; }
            // What parses is text through and through: it reads and writes back without an exception.
            var text = node.ToJsonString();
            return JsonNode.DeepEquals(node, JsonNode.Parse(text));
        }).Check(Many);
    }

    private static readonly Gen<string> Texts = Gen.OneOf(
        ArbMap.Default.GeneratorFor<string>().Where(s => s is not null),
        Gen.Choose(0, int.MaxValue).Select(seed =>
        {
            var r = new Random(seed);
            var chars = "={}[]\":,\\ 1e-4.5truefalsenull\ud800\udc00😀é\n".ToCharArray();
            return new string(Enumerable.Range(0, r.Next(0, 30)).Select(_ => chars[r.Next(chars.Length)]).ToArray());
        }),
        Gen.Choose(0, int.MaxValue).Select(seed => "k=" + Encoding.UTF8.GetString(BadInput.Json(new Random(seed), 0))),
        Gen.Choose(0, int.MaxValue).Select(seed => "k=" + new string('[', new Random(seed).Next(50, 300))));

    [Fact]
    public void Any_key_value_text_parses_to_values_that_write_back_or_is_a_protocol_error()
    {
        Prop.ForAll(Texts.ToArbitrary(), Texts.ToArbitrary(), (a, b) =>
        {
            JsonObject values;
            try { values = KeyValueParser.Parse([a, b]); }
            catch (ProtocolException ex) { return ex.Message.Length > 0; }
            var text = values.ToJsonString();
            JsonValues.ParseDocument(Encoding.UTF8.GetBytes(text), "written back");
            return KeyValueParser.Format(values) is not null;
        }).Check(Many);
    }

    [Fact]
    public void Any_recipe_file_validates_to_messages_and_reads_or_is_a_protocol_error()
    {
        using var dir = new TempDir("recipe");
        var path = dir.File("kiln.recipe.jsonl");
        Prop.ForAll(Gen.Choose(0, int.MaxValue).ToArbitrary(), seed =>
        {
            var r = new Random(seed);
            var bytes = new List<byte>();
            for (var i = r.Next(0, 8); i > 0; i--)
            {
                bytes.AddRange(r.Next(3) switch
                {
                    0 => Encoding.UTF8.GetBytes($$$"""{"at":{"step":{{{BadInput.Number(r)}}},"event":"train_step_end"},"module":"opt","op":"set_params","params":{"lr":0.1}}"""),
                    1 => BadInput.Damaged(r, """{"at":{"step":3,"event":"e"},"module":"cb","op":"load","id":"x","target":{"kind":"type","path":"T"},"source_capture":{"sha256":"a","captured_path":"b"}}"""u8.ToArray()),
                    _ => BadInput.Line(r),
                });
                if (r.Next(8) != 0) bytes.Add((byte)'\n');
            }
            File.WriteAllBytes(path, [.. bytes]);
            var problems = RecipeFile.Validate(path);
            Assert.All(problems, p => Assert.StartsWith(path, p));
            try
            {
                var entries = RecipeFile.Read(path);
                foreach (var e in entries) _ = e.ToJson().ToJsonString();
            }
            catch (ProtocolException ex)
            {
                Assert.StartsWith(path, ex.Message);
            }
            return true;
        }).Check(Many);
    }

    [Fact]
    public void Any_yaml_text_or_bytes_reads_or_is_a_protocol_error_with_a_message()
    {
        Prop.ForAll(Gen.Choose(0, int.MaxValue).ToArbitrary(), seed =>
        {
            var r = new Random(seed);
            var text = BadInput.Yaml(r);
            byte[] bytes = r.Next(4) == 0 ? BadInput.RandomBytes(r, r.Next(0, 60)) : BadInput.Damaged(r, Encoding.UTF8.GetBytes(text + " "));
            foreach (var parse in new Func<JsonNode?>[] { () => YamlJson.Parse(text), () => YamlJson.Parse(bytes) })
            {
                JsonNode? node;
                try { node = parse(); }
                catch (ProtocolException ex)
                {
                    Assert.NotEmpty(ex.Message);
                    continue;
                }
                _ = node?.ToJsonString();
                try { KilnConfig.FromJson(node, ["opt", "loss", "tune"]); }
                catch (ProtocolException ex) { Assert.NotEmpty(ex.Message); }
            }
            return true;
        }).Check(Many);
    }

    [Fact]
    public void Any_kiln_yaml_written_while_the_run_trains_is_applied_or_rejected_and_the_run_goes_on()
    {
        Prop.ForAll(Gen.Choose(0, int.MaxValue).ToArbitrary(), seed =>
        {
            var r = new Random(seed);
            using var h = new Harness();
            h.Step(0);
            for (var i = 1; i <= 4; i++)
            {
                if (r.Next(3) == 0) File.WriteAllBytes(h.Run.Files.ConfigPath, BadInput.RandomBytes(r, r.Next(0, 80)));
                else File.WriteAllBytes(h.Run.Files.ConfigPath, Encoding.UTF8.GetBytes(BadInput.Yaml(r)));
                h.Step(i);
            }
            // Whatever the last file said, a valid one read after the longest poll interval allowed (an hour) restores the
            // defaults, and a command written then gets its decision: no file stops the kernel from listening.
            h.Run.WriteConfig("version: 1\n");
            var cid = h.Run.Set("loss", """{"recon_w": 0.25}""");
            h.Clock.Advance(TimeSpan.FromHours(1.01));
            for (var step = 5; step < 10; step++) h.Step(step);
            Assert.Single(h.Run.Decisions(), d => d.Cid == cid);
            Assert.True(InboxAudit.Of(h.Dir).Ok, InboxAudit.LedgerText(h.Dir));
            return true;
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(60));
    }
}
