using Kiln.IO;
using Kiln.Protocol;
using Kiln.Registry.Store;

namespace Kiln.Registry.Workspace;

/// <summary>How <c>kiln workspace init</c> scaffolds a workspace.</summary>
public sealed record WorkspaceInitOptions
{
    /// <summary>The workspace's name in a new <c>kiln.json</c>; default: the folder's name.</summary>
    public string? Name { get; init; }

    /// <summary>The folder of the Kiln assemblies the editor project references; default: where this kiln's are.</summary>
    public string? KilnHome { get; init; }
}

/// <summary>One thing <c>kiln workspace init</c> made, or found and kept.</summary>
/// <param name="Path">Relative to the workspace root, '/' separated; folders end with '/'.</param>
public sealed record InitStep(string Path, bool Created, string Message);

/// <summary>Everything init made or kept, in order.</summary>
public sealed record InitReport(WorkspacePaths Workspace, IReadOnlyList<InitStep> Steps)
{
    public bool ChangedNothing => Steps.All(s => !s.Created);
}

/// <summary>
/// <c>kiln workspace init</c>: makes a folder a workspace (DESIGN §4) — <c>kiln.json</c>, <c>.kiln/</c> with the registry
/// and Kiln's folders, the user's folders, a <c>.gitignore</c> line for <c>.kiln/</c> and an editor project. It never
/// overwrites anything: what exists is kept and said so, and running it again changes nothing.
/// </summary>
public static class WorkspaceInit
{
    public const string IgnoreLine = ".kiln/";

    /// <summary>The user's folders: run directories, config trees, experiment, parameter and callback sources, reports.</summary>
    public static readonly IReadOnlyList<string> UserFolders = ["runs", "cfg", "experiments", "params", "callbacks", "reports"];

    /// <summary>Kiln's folders inside <c>.kiln/</c>: the stage cache, full stores, saved models, executor submissions.</summary>
    public static readonly IReadOnlyList<string> StateFolders = ["cache", "stores", "models", "jobs"];

    public static InitReport Run(string root, WorkspaceInitOptions? options = null)
    {
        options ??= new WorkspaceInitOptions();
        var workspace = new WorkspacePaths(root);
        Directory.CreateDirectory(workspace.Root);
        var steps = new List<InitStep>();

        var config = Config(workspace, options, steps);
        Folder(workspace, WorkspacePaths.StateDir, steps);
        foreach (var folder in StateFolders) Folder(workspace, $"{WorkspacePaths.StateDir}/{folder}", steps);
        Registry(workspace, steps);
        foreach (var folder in UserFolders) Folder(workspace, folder, steps);
        GitIgnore(workspace, steps);
        Project(workspace, config.Name, options.KilnHome ?? DefaultKilnHome(), steps);
        return new InitReport(workspace, steps);
    }

    /// <summary>The folder of the running Kiln's assemblies.</summary>
    public static string DefaultKilnHome() => Path.GetDirectoryName(typeof(WorkspaceInit).Assembly.Location) ?? AppContext.BaseDirectory;

    private static WorkspaceConfig Config(WorkspacePaths workspace, WorkspaceInitOptions options, List<InitStep> steps)
    {
        if (File.Exists(workspace.Config))
        {
            WorkspaceConfig existing;
            try
            {
                existing = WorkspaceConfig.Read(workspace.Config);
            }
            catch (ProtocolException ex)
            {
                steps.Add(new(WorkspacePaths.ConfigFile, false, $"{WorkspacePaths.ConfigFile} exists, kept (but it is invalid: {ex.Message})"));
                return WorkspaceConfig.For(workspace.Root, options.Name);
            }
            var named = options.Name is not null && options.Name != existing.Name ? $" (its name stays \"{existing.Name}\")" : "";
            steps.Add(new(WorkspacePaths.ConfigFile, false, $"{WorkspacePaths.ConfigFile} exists, kept{named}"));
            return existing;
        }
        var config = WorkspaceConfig.For(workspace.Root, options.Name);
        config.Write(workspace.Config);
        steps.Add(new(WorkspacePaths.ConfigFile, true,
            $"{WorkspacePaths.ConfigFile} created (name \"{config.Name}\", train: {string.Join(" ", config.Train[0])}, trial: {string.Join(" ", config.Trial[0])}, executor: {config.Executor})"));
        return config;
    }

    private static void Folder(WorkspacePaths workspace, string relative, List<InitStep> steps)
    {
        var path = Path.Combine(workspace.Root, relative);
        if (Directory.Exists(path))
        {
            steps.Add(new(relative + "/", false, $"{relative}/ exists, kept"));
            return;
        }
        Directory.CreateDirectory(path);
        steps.Add(new(relative + "/", true, $"{relative}/ created"));
    }

    private static void Registry(WorkspacePaths workspace, List<InitStep> steps)
    {
        var relative = $"{WorkspacePaths.StateDir}/{WorkspacePaths.RegistryFile}";
        if (File.Exists(workspace.Registry))
        {
            // Not opened: opening may migrate it, and init changes nothing that exists.
            steps.Add(new(relative, false, $"{relative} exists, kept"));
            return;
        }
        using (var db = RegistryDb.Open(workspace)) steps.Add(new(relative, true, $"{relative} created (schema version {db.Version})"));
    }

    private static void GitIgnore(WorkspacePaths workspace, List<InitStep> steps)
    {
        var path = Path.Combine(workspace.Root, ".gitignore");
        if (!File.Exists(path))
        {
            AtomicFile.WriteAllText(path, IgnoreLine + "\n");
            steps.Add(new(".gitignore", true, $".gitignore created, ignoring {IgnoreLine}"));
            return;
        }
        var text = File.ReadAllText(path);
        var lines = text.Split('\n').Select(l => l.Trim());
        if (lines.Any(l => l is ".kiln" or ".kiln/" or "/.kiln" or "/.kiln/" or ".kiln/*" or "/.kiln/*"))
        {
            steps.Add(new(".gitignore", false, $".gitignore ignores {IgnoreLine} already, kept"));
            return;
        }
        var separator = text.Length == 0 || text.EndsWith('\n') ? "" : "\n";
        File.AppendAllText(path, separator + IgnoreLine + "\n");
        steps.Add(new(".gitignore", true, $".gitignore: {IgnoreLine} added"));
    }

    private static void Project(WorkspacePaths workspace, string name, string kilnHome, List<InitStep> steps)
    {
        var file = EditorProject.FileName(name);
        var path = Path.Combine(workspace.Root, file);
        if (File.Exists(path))
        {
            steps.Add(new(file, false, $"{file} exists, kept"));
            return;
        }
        // A second project file beside the user's would make every `dotnet` command here ask which one is meant.
        var other = Directory.EnumerateFiles(workspace.Root)
            .Select(Path.GetFileName)
            .FirstOrDefault(f => f!.EndsWith(".csproj", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".fsproj", StringComparison.OrdinalIgnoreCase)
                || f.EndsWith(".sln", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".slnx", StringComparison.OrdinalIgnoreCase));
        if (other is not null)
        {
            steps.Add(new(file, false, $"{file} not written: {other} is here already, kept (a second project would make `dotnet` commands here ambiguous)"));
            return;
        }
        AtomicFile.WriteAllText(path, EditorProject.Render(name, kilnHome));
        steps.Add(new(file, true, $"{file} created (the editor project: experiments/, params/, callbacks/ against the Kiln SDK in {kilnHome})"));
    }
}
