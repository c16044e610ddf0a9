using System.Net;
using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Server.Tests;

/// <summary>
/// Naming a C# source or an assembly in a command is running it as the trainer's user, so the dashboard accepts only
/// files under the served directory, links resolved; the same holds for a freeze's recipe and adjust file, since a
/// replayed recipe loads callbacks too.
/// </summary>
public sealed class CallbackSourceTests : IDisposable
{
    private readonly TempDir _outside = new("outside");

    public void Dispose() => _outside.Dispose();

    private static string Load(string kind, string path, string? symbol = null) =>
        new JsonObject
        {
            ["module"] = "cb", ["op"] = "load", ["id"] = "x",
            ["target"] = new JsonObject { ["kind"] = kind, ["path"] = path, ["symbol"] = symbol },
        }.ToJsonString();

    private Task<ServerHost> Workspace() => ServerHost.StartAsync(w =>
    {
        FakeRun.Create(w.Sub("runs/a"));
        File.WriteAllText(Path.Combine(w.Sub("callbacks"), "Good.cs"), "public sealed class Good { }");
        File.WriteAllText(Path.Combine(_outside.Path, "Evil.cs"), "public sealed class Evil { }");
        File.WriteAllText(Path.Combine(_outside.Path, "Evil.dll"), "");
        File.CreateSymbolicLink(Path.Combine(w.Path, "callbacks", "Linked.cs"), Path.Combine(_outside.Path, "Evil.cs"));
        File.CreateSymbolicLink(Path.Combine(w.Path, "callbacks", "Alias.cs"), "Good.cs");
        Directory.CreateSymbolicLink(Path.Combine(w.Path, "callbacks", "ext"), _outside.Path);
    });

    private static List<string> Inbox(ServerHost host)
    {
        var path = Path.Combine(host.Workspace.Path, "runs/a", RunFiles.Commands);
        return File.Exists(path) ? [.. File.ReadAllLines(path)] : [];
    }

    public static TheoryData<string, string, string?, string> Outside => new()
    {
        // kind, path (relative paths are the run directory's), symbol, what the refusal names
        { "file", "{outside}/Evil.cs", null, "outside the served directory" },
        { "file", "../../../{outsideName}/Evil.cs", null, "outside the served directory" },
        { "file", "../../callbacks/../../{outsideName}/Evil.cs", null, "outside the served directory" },
        { "file", "../../callbacks/Linked.cs", null, "outside the served directory" },
        { "file", "{root}/callbacks/ext/Evil.cs", null, "outside the served directory" },
        { "assembly", "{outside}/Evil.dll", "Evil", "outside the served directory" },
        { "assembly", "{outside}/Evil.dll:Evil", null, "outside the served directory" },
        { "assembly", "../../callbacks/ext/Evil.dll:Evil", null, "outside the served directory" },
    };

    [Theory]
    [MemberData(nameof(Outside))]
    public async Task A_callback_from_outside_the_workspace_is_refused_with_the_reason(string kind, string path, string? symbol, string reason)
    {
        await using var host = await Workspace();
        path = path.Replace("{outside}", _outside.Path, StringComparison.Ordinal)
            .Replace("{outsideName}", Path.GetFileName(_outside.Path), StringComparison.Ordinal)
            .Replace("{root}", host.Workspace.Path, StringComparison.Ordinal);
        var (status, body) = await host.Post("/api/run/commands?run=runs/a", Load(kind, path, symbol));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = body!["error"]!.GetValue<string>();
        Assert.Contains(reason, error, StringComparison.Ordinal);
        Assert.Contains("target.path", error, StringComparison.Ordinal);
        Assert.Empty(Inbox(host));
    }

    [Theory]
    [InlineData("file", "../../callbacks/Good.cs")]
    [InlineData("file", "../../callbacks/Alias.cs")]
    [InlineData("file", "{root}/callbacks/Good.cs")]
    [InlineData("file", "Local.cs")]
    [InlineData("type", "Kiln.Callbacks.Timing")]
    [InlineData("type", "/not/a/path/at/all")]
    public async Task A_callback_from_inside_the_workspace_is_queued(string kind, string path)
    {
        await using var host = await Workspace();
        path = path.Replace("{root}", host.Workspace.Path, StringComparison.Ordinal);
        var (status, body) = await host.Post("/api/run/commands?run=runs/a", Load(kind, path));
        Assert.True(status == HttpStatusCode.Accepted, body?.ToJsonString());
        Assert.Equal(path, body!["command"]!["target"]!["path"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_callback_path_whose_links_loop_is_refused_as_such()
    {
        await using var host = await Workspace();
        File.CreateSymbolicLink(Path.Combine(host.Workspace.Path, "callbacks", "Loop.cs"), "Loop.cs");
        var (status, body) = await host.Post("/api/run/commands?run=runs/a", Load("file", "../../callbacks/Loop.cs"));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("cannot be resolved", body!["error"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Empty(Inbox(host));
    }

    [Fact]
    public async Task A_freeze_replays_only_recipes_from_inside_the_workspace()
    {
        await using var host = await Workspace();
        File.WriteAllText(Path.Combine(_outside.Path, "r.jsonl"), "");
        File.WriteAllText(Path.Combine(host.Workspace.Path, "runs/a", "r.jsonl"), "");
        File.WriteAllText(Path.Combine(host.Workspace.Path, "runs/a", "adjust.yaml"), "patches: []\n");
        foreach (var (body, key) in new[]
        {
            ($$"""{"mode":"replay","recipe_path":"{{_outside.Path}}/r.jsonl"}""", "recipe_path"),
            ($$"""{"mode":"replay","recipe_path":"../../../{{Path.GetFileName(_outside.Path)}}/r.jsonl"}""", "recipe_path"),
            ($$"""{"mode":"replay_adjusted","recipe_path":"r.jsonl","adjust_path":"{{_outside.Path}}/a.yaml"}""", "adjust_path"),
        })
        {
            var (status, answer) = await host.Post("/api/run/freeze?run=runs/a", body);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Contains(key, answer!["error"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Contains("outside the served directory", answer["error"]!.GetValue<string>(), StringComparison.Ordinal);
        }
        Assert.False(File.Exists(Path.Combine(host.Workspace.Path, "runs/a", RunFiles.Freeze)));
        var (ok, state) = await host.Post("/api/run/freeze?run=runs/a", """{"mode":"replay_adjusted","recipe_path":"r.jsonl","adjust_path":"adjust.yaml"}""");
        Assert.True(ok == HttpStatusCode.OK, state?.ToJsonString());
    }
}
