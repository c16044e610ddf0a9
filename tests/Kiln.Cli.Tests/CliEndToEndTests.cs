using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary>The real <c>kiln</c> process against run directories, with a kernel applying what it queues.</summary>
public sealed class CliEndToEndTests
{
    private static KilnProcess.Result Kiln(string dir, params string[] args) =>
        KilnProcess.Run(dir, ["--dir", dir, .. args]);

    private static JsonObject LastInbox(RunDir run) =>
        (JsonObject)JsonNode.Parse(File.ReadAllLines(run.Files.CommandsPath).Last())!;

    [Fact]
    public void Set_is_queued_applied_by_the_kernel_and_reported_by_status()
    {
        using var h = new Harness();
        h.Step(0);
        var set = Kiln(h.Dir, "set", "lr=3e-5");
        Assert.True(set.ExitCode == 0, set.ToString());
        Assert.StartsWith("queued opt set_params main lr=3e-05 (cid ", set.Stdout);

        h.Step(1);
        Assert.Equal(3e-5, h.Lr(0));
        Assert.Equal(3e-5, h.Lr(1));

        var status = Kiln(h.Dir, "status", "--json");
        Assert.Equal(0, status.ExitCode);
        var doc = JsonNode.Parse(status.Stdout)!;
        Assert.Equal(0, (int)doc["backlog"]!);
        var opt = doc["handles"]!.AsArray().Single(x => (string?)x!["module"] == "opt")!;
        Assert.Equal(("main", "set_params", "applied", 1L), ((string?)opt["id"], (string?)opt["op"], (string?)opt["decision"], (long)opt["step"]!));

        var plain = Kiln(h.Dir, "status");
        Assert.Contains("freeze:  off", plain.Stdout);
        Assert.Contains("inbox:   1 command, none waiting", plain.Stdout);
        Assert.Matches(@"opt:main\s+set_params\s+applied\s+1\s+cli\s+lr=3e-05", plain.Stdout);
    }

    [Theory]
    [InlineData(new[] { "cb", "enable", "timing" }, """{"module":"cb","op":"enable","id":"timing"}""")]
    [InlineData(new[] { "cb", "disable", "feat_viz" }, """{"module":"cb","op":"disable","id":"feat_viz"}""")]
    [InlineData(new[] { "cb", "unload", "feat_viz" }, """{"module":"cb","op":"unload","id":"feat_viz"}""")]
    [InlineData(new[] { "cb", "set_params", "timing", "every=100" }, """{"module":"cb","op":"set_params","id":"timing","params":{"every":100}}""")]
    [InlineData(new[] { "cb", "load", "timing", "--path", "Kiln.Callbacks.Timing", "--enabled" }, """{"module":"cb","op":"load","id":"timing","target":{"kind":"type","path":"Kiln.Callbacks.Timing","symbol":null},"enabled":true}""")]
    [InlineData(new[] { "cb", "load", "hb", "--path", "Kiln.Callbacks", "--symbol", "Heartbeat", "--init", "every=1" }, """{"module":"cb","op":"load","id":"hb","target":{"kind":"type","path":"Kiln.Callbacks","symbol":"Heartbeat"},"init":{"every":1},"enabled":false}""")]
    [InlineData(new[] { "opt", "enable" }, """{"module":"opt","op":"enable","id":"main"}""")]
    [InlineData(new[] { "opt", "disable", "--id", "disc" }, """{"module":"opt","op":"disable","id":"disc"}""")]
    [InlineData(new[] { "opt", "set_params", "lr=3e-5", "weight_decay=0.01" }, """{"module":"opt","op":"set_params","id":"main","params":{"lr":3e-05,"weight_decay":0.01}}""")]
    [InlineData(new[] { "opt", "set_params", "clip_norm=1.0" }, """{"module":"opt","op":"set_params","id":"main","params":{"clip_norm":1}}""")]
    [InlineData(new[] { "opt", "set_params", "scheduler_scale=0.5" }, """{"module":"opt","op":"set_params","id":"main","params":{"scheduler_scale":0.5}}""")]
    [InlineData(new[] { "opt", "set_params", "scheduler_drop=0.1" }, """{"module":"opt","op":"set_params","id":"main","params":{"scheduler_drop":0.1}}""")]
    [InlineData(new[] { "loss", "enable" }, """{"module":"loss","op":"enable","id":"main"}""")]
    [InlineData(new[] { "loss", "set_params", "distill_w=0.2", "depth_w=1.5" }, """{"module":"loss","op":"set_params","id":"main","params":{"distill_w":0.2,"depth_w":1.5}}""")]
    [InlineData(new[] { "loss", "set_params", "terms.aux_depth=false", "terms.aux_heatmap=true" }, """{"module":"loss","op":"set_params","id":"main","params":{"terms.aux_depth":false,"terms.aux_heatmap":true}}""")]
    [InlineData(new[] { "loss", "set_params", """ramps.depth={"type":"linear","warmup_frac":0.2,"end":2.0}""" }, """{"module":"loss","op":"set_params","id":"main","params":{"ramps.depth":{"type":"linear","warmup_frac":0.2,"end":2.0}}}""")]
    [InlineData(new[] { "enable", "timing" }, """{"module":"cb","op":"enable","id":"timing"}""")]
    [InlineData(new[] { "disable", "timing" }, """{"module":"cb","op":"disable","id":"timing"}""")]
    [InlineData(new[] { "set", "lr=5e-5" }, """{"module":"opt","op":"set_params","id":"main","params":{"lr":5e-05}}""")]
    [InlineData(new[] { "set", "distill_w=0.25" }, """{"module":"loss","op":"set_params","id":"main","params":{"distill_w":0.25}}""")]
    [InlineData(new[] { "set", "--id", "aux", "terms.x=true", "label_w=0.5" }, """{"module":"loss","op":"set_params","id":"aux","params":{"terms.x":true,"label_w":0.5}}""")]
    [InlineData(new[] { "cb", "set_params", "viz", "label=x=y" }, """{"module":"cb","op":"set_params","id":"viz","params":{"label":"x=y"}}""")]
    public void Every_seed_command_queues_its_command(string[] args, string expected)
    {
        using var dir = new TempDir("cli");
        var run = new RunDir(dir.Path);
        Assert.Equal(0, Kiln(dir.Path, "init").ExitCode);
        var result = Kiln(dir.Path, args);
        Assert.True(result.ExitCode == 0, result.ToString());
        var line = LastInbox(run);
        Assert.Equal(Sources.Cli, (string?)line["source"]);
        Assert.Equal(32, ((string?)line["cid"])!.Length);
        Assert.True((double)line["ts"]! > 1.7e9);
        foreach (var key in new[] { "cid", "source", "ts" }) line.Remove(key);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), JsonNode.Parse(line.ToJsonString())), line.ToJsonString());
    }

    [Fact]
    public void Loading_from_a_file_or_an_assembly_stores_absolute_paths_the_kernel_can_resolve()
    {
        using var dir = new TempDir("cli");
        var run = new RunDir(dir.Sub("run"));
        Kiln(run.Path, "init");
        File.WriteAllText(dir.File("Viz.cs"), "// a callback");
        var ok = KilnProcess.Run(dir.Path, "--dir", "run", "cb", "load", "feat_viz", "--file", "Viz.cs", "--symbol", "FeatureVizCallback", "--enabled", "--init", "every=50", "layer=conv3");
        Assert.True(ok.ExitCode == 0, ok.ToString());
        var line = LastInbox(run);
        Assert.Equal($$"""{"kind":"file","path":"{{dir.File("Viz.cs")}}","symbol":"FeatureVizCallback"}""", line["target"]!.ToJsonString());
        Assert.Equal("""{"every":50,"layer":"conv3"}""", line["init"]!.ToJsonString());

        var missing = KilnProcess.Run(dir.Path, "--dir", "run", "cb", "load", "x", "--file", "Nope.cs");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("Nope.cs: source file not found", missing.Stderr);

        File.WriteAllText(dir.File("My.dll"), "not really");
        KilnProcess.Run(dir.Path, "--dir", "run", "cb", "load", "x", "--path", "My.dll:Ns.Cb");
        Assert.Equal($$"""{"kind":"assembly","path":"{{dir.File("My.dll")}}:Ns.Cb","symbol":null}""", LastInbox(run)["target"]!.ToJsonString());
    }

    [Theory]
    [InlineData(2, new[] { "set", "lr=1", "cls_w=2" }, "belong to different modules")]
    [InlineData(2, new[] { "set", "foo=1" }, "cannot tell which module foo belongs to")]
    [InlineData(2, new[] { "set" }, "Required argument missing")]
    [InlineData(2, new[] { "opt", "set_params", "distill_w=1" }, "distill_w: not an optimizer key")]
    [InlineData(2, new[] { "loss", "set_params", "lr=1" }, "lr: not a loss key")]
    [InlineData(2, new[] { "set", "m={bad" }, "m: value {bad is not valid JSON")]
    [InlineData(2, new[] { "set", "lr=abc" }, "lr: expected a number, got \"abc\"")]
    [InlineData(2, new[] { "set", "lr=-1" }, "lr: -1 below min 0")]
    [InlineData(2, new[] { "opt", "set_params", "betas=[0.9]" }, "betas: expected [beta1, beta2], got [0.9]")]
    [InlineData(2, new[] { "set", "cls_w=1e9" }, "cls_w: 1000000000 above max 100")]
    [InlineData(2, new[] { "loss", "set_params", "terms.cls=maybe" }, "terms.cls: expected true or false")]
    [InlineData(2, new[] { "set", "novalue" }, "'novalue': expected key=value")]
    [InlineData(2, new[] { "cb", "load", "x" }, "give --file <source.cs> or --path")]
    [InlineData(2, new[] { "cb", "load", "x", "--path", "A.B", "--enabled", "--no-enabled" }, "contradict")]
    [InlineData(2, new[] { "freeze", "--mode", "ice" }, "Argument 'ice' not recognized")]
    [InlineData(2, new[] { "freeze", "--mode", "prod", "--recipe", "r.jsonl" }, "--recipe and --adjust apply to replay modes")]
    [InlineData(2, new[] { "frobnicate" }, "Unrecognized command or argument 'frobnicate'")]
    [InlineData(1, new[] { "freeze", "--mode", "replay" }, "kiln.recipe.jsonl: recipe not found")]
    [InlineData(1, new[] { "freeze", "--mode", "replay_adjusted", "--recipe", "r.jsonl" }, "r.jsonl: recipe not found")]
    [InlineData(1, new[] { "recipe", "validate" }, "recipe not found")]
    [InlineData(1, new[] { "recipe", "patch-template" }, "recipe not found")]
    public void Errors_are_one_line_naming_the_fault_with_the_right_exit_code(int code, string[] args, string message)
    {
        using var dir = new TempDir("cli");
        // A run directory with nothing in it but its configuration: no recipe, no inbox.
        File.WriteAllText(Path.Combine(dir.Path, RunFiles.Config), "version: 1\n");
        var result = Kiln(dir.Path, args);
        Assert.True(code == result.ExitCode, result.ToString());
        var first = result.Stderr.Split('\n')[0];
        Assert.StartsWith("kiln: error: ", first);
        Assert.Contains(message, first);
        Assert.False(File.Exists(Path.Combine(dir.Path, RunFiles.Commands)));
    }

    [Fact]
    public void Steering_a_folder_that_is_not_a_run_is_refused_and_the_runs_in_it_are_named()
    {
        using var dir = new TempDir("cli");
        var runs = dir.Sub("runs");
        Assert.Equal(0, KilnProcess.Run(dir.Path, "--dir", "runs/exp-001", "init").ExitCode);
        foreach (var args in new[] { new[] { "set", "lr=1e-3" }, ["cb", "enable", "timing"], ["freeze", "--mode", "prod"] })
        {
            var result = KilnProcess.Run(dir.Path, ["--dir", "runs", .. args]);
            Assert.Equal(1, result.ExitCode);
            Assert.Contains("runs: not a run directory", result.Stderr);
            Assert.Contains("the runs in it: exp-001", result.Stderr);
        }
        Assert.Equal(["exp-001"], Directory.GetFileSystemEntries(runs).Select(Path.GetFileName));
    }

    [Fact]
    public void Commands_for_a_missing_run_directory_fail_instead_of_creating_it()
    {
        using var dir = new TempDir("cli");
        var missing = Path.Combine(dir.Path, "typo");
        var result = KilnProcess.Run(dir.Path, "--dir", missing, "set", "lr=0.1");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no such run directory", result.Stderr);
        Assert.False(Directory.Exists(missing));
    }

    [Fact]
    public void Init_creates_the_files_once_and_keeps_existing_ones()
    {
        using var dir = new TempDir("cli");
        File.WriteAllText(Path.Combine(dir.Path, RunFiles.Config), "version: 1\n# mine\n");
        var first = Kiln(dir.Path, "init");
        Assert.Equal(0, first.ExitCode);
        Assert.Contains("created kiln.commands.jsonl, kiln.applied.jsonl, kiln.recipe.jsonl, kiln.freeze.json", first.Stdout);
        Assert.Equal("version: 1\n# mine\n", File.ReadAllText(Path.Combine(dir.Path, RunFiles.Config)));
        Assert.Contains("nothing changed", Kiln(dir.Path, "init").Stdout);
    }

    [Fact]
    public void Freeze_from_the_command_line_gates_the_running_kernel()
    {
        using var h = new Harness();
        h.Step(0);
        Assert.Equal(0, Kiln(h.Dir, "freeze", "--mode", "prod").ExitCode);
        Kiln(h.Dir, "set", "lr=0.5");
        h.Step(1);
        Assert.Equal(0.01, h.Lr());
        Assert.Contains("freeze:  prod", Kiln(h.Dir, "status").Stdout);

        Assert.Equal(0, Kiln(h.Dir, "freeze", "--mode", "off").ExitCode);
        Kiln(h.Dir, "set", "lr=0.5");
        h.Step(2);
        Assert.Equal(0.5, h.Lr());
        var decisions = h.Run.Decisions().Select(d => (d.Op, d.Decision)).ToList();
        Assert.Equal([("freeze", "applied"), ("set_params", "ignored_freeze"), ("unfreeze", "applied"), ("set_params", "applied")], decisions);
    }

    [Fact]
    public void Export_validate_patch_template_and_replay_from_the_command_line()
    {
        using var h = new Harness();
        h.Step(0);
        Kiln(h.Dir, "set", "lr=0.002");
        h.Step(1);
        Kiln(h.Dir, "loss", "set_params", "cls_w=3");
        h.Step(2);
        h.Kernel.End();

        var export = Kiln(h.Dir, "recipe", "export", "--json");
        Assert.Equal(0, export.ExitCode);
        Assert.Equal(2, (int)JsonNode.Parse(export.Stdout)!["entries"]!);
        Assert.Contains("valid", Kiln(h.Dir, "recipe", "validate").Stdout);
        var template = Kiln(h.Dir, "recipe", "patch-template");
        Assert.Equal(0, template.ExitCode);
        Assert.Contains("wrote 2 patch stubs", template.Stdout);
        var again = Kiln(h.Dir, "recipe", "patch-template");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("pass --force", again.Stderr);
        Assert.Equal(0, Kiln(h.Dir, "recipe", "patch-template", "--force").ExitCode);

        using var replay = new Harness();
        File.Copy(h.Run.Files.RecipePath, replay.Run.Files.RecipePath);
        File.Copy(h.Run.Files.AdjustPath, replay.Run.Files.AdjustPath);
        Assert.Equal(0, Kiln(replay.Dir, "init").ExitCode);
        var freeze = Kiln(replay.Dir, "freeze", "--mode", "replay_adjusted", "--policy", "strict", "--step-offset", "1");
        Assert.True(freeze.ExitCode == 0, freeze.ToString());
        Assert.Contains("replay_adjusted (recipe kiln.recipe.jsonl, adjust kiln.adjust.yaml, policy strict, step offset 1)", freeze.Stdout);
        for (var s = 0; s < 5; s++) replay.Step(s);
        replay.Kernel.End();
        Assert.Equal(0.002, replay.Lr());
        Assert.Equal(3, replay.Loss.GetWeight("cls"));
        Assert.Equal([2L, 3L], replay.Run.Ledger().Where(l => l.Source == Sources.Replay).Select(l => l.Step!.Value));

        File.AppendAllText(h.Run.Files.RecipePath, "{\"at\":{\"step\":1}}\n");
        var invalid = Kiln(h.Dir, "recipe", "validate", "--json");
        Assert.Equal(1, invalid.ExitCode);
        Assert.Contains("line 3: at.event: missing", invalid.Stdout);
    }

    [Fact]
    public void Help_is_there_for_every_command()
    {
        using var dir = new TempDir("cli");
        foreach (var cmd in new[] { "status", "init", "cb", "opt", "loss", "freeze", "recipe", "enable", "disable", "set", "launch" })
        {
            var result = KilnProcess.Run(dir.Path, cmd, "--help");
            Assert.True(result.ExitCode == 0, cmd + ": " + result);
            Assert.Contains("--dir", result.Stdout);
        }
    }

    [Fact]
    public void Twenty_concurrent_processes_queue_a_thousand_commands_and_each_is_applied_exactly_once()
    {
        using var h = new Harness();
        h.Step(0);
        var failures = new ConcurrentBag<string>();
        var workers = Enumerable.Range(0, 20).Select(w => Task.Run(() =>
        {
            for (var i = 0; i < 50; i++)
            {
                var r = KilnProcess.Run(h.Dir, "--dir", h.Dir, "set", $"cls_w={(w * 50 + i) / 10.0:0.0}");
                if (r.ExitCode != 0) failures.Add(r.ToString());
            }
        })).ToArray();
        var step = 1L;
        while (!Task.WhenAll(workers).IsCompleted)
        {
            h.Step(step++);
            Thread.Sleep(2);
        }
        h.Step(step);
        foreach (var w in workers) if (w.Exception is { } ex) failures.Add(ex.ToString());
        Assert.Empty(failures);

        var inbox = File.ReadAllLines(h.Run.Files.CommandsPath).Select(l => (string)JsonNode.Parse(l)!["cid"]!).ToList();
        var applied = h.Run.Decisions().Where(d => d.Decision == Decision.Applied).Select(d => d.Cid!).ToList();
        Assert.Equal(1000, inbox.Count);
        Assert.Equal(1000, inbox.Distinct().Count());
        Assert.Equal(1000, applied.Count);
        Assert.Equal(inbox.Order(StringComparer.Ordinal), applied.Order(StringComparer.Ordinal));
        var values = h.Run.Decisions().Select(d => (int)Math.Round((double)d.Payload!["cls_w"]! * 10)).Order().ToList();
        Assert.Equal(Enumerable.Range(0, 1000), values);
    }
}
