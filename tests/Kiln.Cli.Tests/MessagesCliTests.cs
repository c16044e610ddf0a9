using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary>What the user reads: real messages rather than resource keys, and nothing dropped without a word.</summary>
public sealed class MessagesCliTests
{
    [Fact]
    public void Errors_from_the_runtime_read_as_messages_not_resource_keys()
    {
        using var dir = new TempDir("messages");
        KilnProcess.Run(dir.Path, "--dir", "r", "init");
        var bad = KilnProcess.Run(dir.Path, "--dir", "r", "set", "lr={");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("lr: value { is not valid JSON", bad.Stderr);
        Assert.Contains("open JSON object or array", bad.Stderr);
        Assert.DoesNotContain("ZeroDepthAtEnd", bad.Stderr);
    }

    [Fact]
    public void Status_and_recipe_export_say_when_the_ledger_ends_in_an_unfinished_line()
    {
        using var dir = new TempDir("messages");
        KilnProcess.Run(dir.Path, "--dir", "r", "init");
        var ledger = Path.Combine(dir.Path, "r", RunFiles.Ledger);
        File.WriteAllText(ledger, """
            {"seq":1,"cid":"a","step":3,"event":"train_step_end","module":"opt","op":"set_params","id":"main","source":"cli","decision":"applied","params":{"lr":0.01}}
            {"seq":2,"cid":"b","module":"opt","op":"set_par
            """.TrimEnd('\n'));

        var status = KilnProcess.Run(dir.Path, "--dir", "r", "status");
        Assert.Equal(0, status.ExitCode);
        Assert.Contains("kiln.applied.jsonl: its last line is incomplete", status.Stderr);
        var json = JsonNode.Parse(KilnProcess.Run(dir.Path, "--dir", "r", "status", "--json").Stdout)!;
        Assert.Contains(json["problems"]!.AsArray(), p => ((string)p!).Contains("incomplete", StringComparison.Ordinal));

        var export = KilnProcess.Run(dir.Path, "--dir", "r", "recipe", "export");
        Assert.Equal(0, export.ExitCode);
        Assert.Contains("wrote 1 entry", export.Stdout);
        Assert.Contains("its last line is incomplete (", export.Stderr);
        var exported = JsonNode.Parse(KilnProcess.Run(dir.Path, "--dir", "r", "recipe", "export", "--json").Stdout)!;
        Assert.Single(exported["warnings"]!.AsArray());
    }
}
