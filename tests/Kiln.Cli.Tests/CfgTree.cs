using System.Text.Json.Nodes;
using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary>A project's cfg tree, written as a user would, and its trials as <c>kiln trials status --json</c> lists them.</summary>
internal static class CfgTree
{
    /// <summary>Writes <c>cfg/<paramref name="relative"/>/cfg.yaml</c> under <paramref name="root"/>.</summary>
    public static void Write(string root, string relative, string yaml)
    {
        var path = Path.Combine(root, "cfg", relative, "cfg.yaml");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, yaml);
    }

    /// <summary>The trials of the project at <paramref name="root"/>, from a <c>kiln trials status --json</c> that must succeed.</summary>
    public static JsonArray Status(string root)
    {
        var status = KilnProcess.Run(root, "trials", "status", "--json");
        Assert.True(status.ExitCode == 0, status.ToString());
        return JsonNode.Parse(status.Stdout)!["trials"]!.AsArray();
    }
}
