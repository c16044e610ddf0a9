using System.Diagnostics;
using System.Security.Cryptography;
using Kiln.Registry.Store;
using Kiln.Registry.Workspace;
using Kiln.Scripting.Compilation;
using Kiln.Testing;

namespace Kiln.Registry.Tests;

public sealed class WorkspaceTests
{
    /// <summary>Every file below the root with a hash of its bytes.</summary>
    private static Dictionary<string, string> Snapshot(string root) =>
        Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).ToDictionary(
            p => Path.GetRelativePath(root, p),
            p => File.Exists(p) ? Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(p))) : "dir");

    [Fact]
    public void Init_scaffolds_a_workspace_and_a_second_init_changes_nothing()
    {
        using var tmp = new TempDir("init");
        var root = tmp.Sub("My Project");
        var first = WorkspaceInit.Run(root, new WorkspaceInitOptions { KilnHome = "/opt/kiln" });
        Assert.All(first.Steps, s => Assert.True(s.Created, s.Message));
        Assert.Equal("kiln.json created (name \"My Project\", train: dotnet run --project train, trial: dotnet run --project trial, executor: local)", first.Steps[0].Message);
        foreach (var folder in new[] { ".kiln/cache", ".kiln/stores", ".kiln/models", ".kiln/jobs", "runs", "cfg", "experiments", "params", "callbacks", "reports" })
            Assert.True(Directory.Exists(Path.Combine(root, folder)), folder);
        Assert.Equal(".kiln/\n", File.ReadAllText(Path.Combine(root, ".gitignore")));
        Assert.Equal("My Project", WorkspaceConfig.Read(Path.Combine(root, "kiln.json")).Name);
        using (var db = RegistryDb.Open(Path.Combine(root, ".kiln", "registry.db"))) Assert.Equal(Migrations.Latest, db.Version);
        Assert.Contains("<KilnHome Condition=\"'$(KilnHome)' == ''\">/opt/kiln</KilnHome>", File.ReadAllText(Path.Combine(root, "My_Project.csproj")));

        var before = Snapshot(root);
        var second = WorkspaceInit.Run(root, new WorkspaceInitOptions { KilnHome = "/elsewhere", Name = "other" });
        Assert.True(second.ChangedNothing);
        Assert.Equal("kiln.json exists, kept (its name stays \"My Project\")", second.Steps[0].Message);
        Assert.Contains(second.Steps, s => s.Message == ".kiln/registry.db exists, kept");
        Assert.Contains(second.Steps, s => s.Message == "runs/ exists, kept");
        Assert.Contains(second.Steps, s => s.Message == ".gitignore ignores .kiln/ already, kept");
        Assert.Contains(second.Steps, s => s.Message == "My_Project.csproj exists, kept");
        Assert.Equal(before, Snapshot(root));
    }

    [Fact]
    public void Init_appends_to_a_gitignore_only_when_the_line_is_missing_and_never_adds_a_second_project()
    {
        using var tmp = new TempDir("init");
        File.WriteAllText(tmp.File(".gitignore"), "bin/\nobj/");
        File.WriteAllText(tmp.File("Trainer.csproj"), "<Project />");
        var report = WorkspaceInit.Run(tmp.Path);
        Assert.Equal("bin/\nobj/\n.kiln/\n", File.ReadAllText(tmp.File(".gitignore")));
        Assert.Contains(report.Steps, s => s.Message.StartsWith("kiln-tests-", StringComparison.Ordinal) is false && s.Message.Contains("not written: Trainer.csproj is here already, kept", StringComparison.Ordinal));
        Assert.Single(Directory.EnumerateFiles(tmp.Path, "*.csproj"));

        File.WriteAllText(tmp.File(".gitignore"), "/.kiln\n");
        WorkspaceInit.Run(tmp.Path);
        Assert.Equal("/.kiln\n", File.ReadAllText(tmp.File(".gitignore")));
    }

    [Fact]
    public void The_editor_project_uses_what_kiln_compiles_user_code_with()
    {
        Assert.Equal(ScriptCompiler.ImplicitUsings, EditorProject.ImplicitUsings);
        foreach (var assembly in EditorProject.SdkAssemblies)
            Assert.True(File.Exists(Path.Combine(WorkspaceInit.DefaultKilnHome(), assembly + ".dll")), assembly);
        Assert.Equal("a_b-c.d.csproj", EditorProject.FileName("a/b-c.d"));
        Assert.Equal("workspace.csproj", EditorProject.FileName(".."));
    }

    [Fact]
    public async Task The_editor_project_builds_a_callback_against_the_kiln_sdk()
    {
        using var tmp = new TempDir("editor");
        WorkspaceInit.Run(tmp.Path, new WorkspaceInitOptions { Name = "proj" });
        // Written as a callback file for kiln: no usings, the implicit ones are enough.
        File.WriteAllText(tmp.File("callbacks/Nudge.cs"), """
            public sealed class Nudge : IKilnCallback
            {
                public string Id => "nudge";
                public void Handle(string evt, KernelEnv env) { var seen = new List<string> { evt }; }
                public void SetParams(JsonObject parameters) { }
            }
            """);
        File.WriteAllText(tmp.File("runs/ignored.cs"), "this is not C#");
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet")
        {
            WorkingDirectory = tmp.Path, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { "build", "proj.csproj", "-nologo", "-v", "q" }) info.ArgumentList.Add(a);
        info.Environment.Remove("MSBuildExtensionsPath");
        info.Environment.Remove("MSBUILD_EXE_PATH");
        info.Environment.Remove("MSBuildSDKsPath");
        using var build = Process.Start(info)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var output = build.StandardOutput.ReadToEndAsync();
        var errors = build.StandardError.ReadToEndAsync();
        await build.WaitForExitAsync(timeout.Token);
        Assert.True(build.ExitCode == 0, await output + await errors);
        Assert.Single(Directory.EnumerateFiles(tmp.File(".kiln/bin"), "proj.dll", SearchOption.AllDirectories));
        Assert.False(Directory.Exists(tmp.File("obj")));
    }

    [Fact]
    public void Deinit_removes_only_what_is_kilns()
    {
        using var tmp = new TempDir("deinit");
        WorkspaceInit.Run(tmp.Path, new WorkspaceInitOptions { Name = "w" });
        Runs.Trained(tmp.Path, "t1", "fp", new() { ["a"] = 1 }, 1);
        File.WriteAllText(tmp.File(".kiln/models/w.bin"), "12345");
        File.WriteAllText(tmp.File(".kiln/notes.txt"), "mine");
        File.WriteAllText(tmp.File("callbacks/Mine.cs"), "// mine");
        var ws = new WorkspacePaths(tmp.Path);

        var plan = WorkspaceDeinit.Plan(ws);
        Assert.Equal(["kiln.json", ".kiln/cache/", ".kiln/jobs/", ".kiln/models/", ".kiln/registry.db", ".kiln/stores/"], plan.Remove.Select(i => i.Path));
        Assert.Equal("1 file, 5 B", plan.Remove.Single(i => i.Path == ".kiln/models/").Detail);
        Assert.Contains(plan.Keep, i => i.Path == ".kiln/notes.txt");
        Assert.Contains(plan.Keep, i => i.Path == "runs/");
        Assert.Contains(plan.Keep, i => i.Path == "callbacks/");
        Assert.Contains(plan.Keep, i => i.Path == "w.csproj");
        Assert.Contains(plan.Keep, i => i.Path == ".gitignore");

        var removed = WorkspaceDeinit.Execute(plan);
        Assert.Equal(plan.Remove.Select(i => i.Path), removed);
        Assert.False(File.Exists(tmp.File("kiln.json")));
        Assert.False(File.Exists(tmp.File(".kiln/registry.db")));
        Assert.True(File.Exists(tmp.File(".kiln/notes.txt")));
        Assert.True(File.Exists(tmp.File("runs/t1/weights.safetensors")));
        Assert.True(File.Exists(tmp.File("callbacks/Mine.cs")));
        Assert.True(File.Exists(tmp.File("w.csproj")));

        File.Delete(tmp.File(".kiln/notes.txt"));
        WorkspaceInit.Run(tmp.Path);
        Assert.Contains(".kiln/", WorkspaceDeinit.Execute(WorkspaceDeinit.Plan(ws)));
        Assert.False(Directory.Exists(tmp.File(".kiln")));
    }
}
