namespace Kiln.Registry.Workspace;

/// <summary>The folders and files of a workspace (DESIGN §4), from its root: the folder that holds <c>kiln.json</c>.</summary>
public sealed class WorkspacePaths
{
    public const string ConfigFile = "kiln.json";
    public const string StateDir = ".kiln";
    public const string RegistryFile = "registry.db";

    public WorkspacePaths(string root) => Root = Path.GetFullPath(root);

    public string Root { get; }
    public string Config => Path.Combine(Root, ConfigFile);
    public string State => Path.Combine(Root, StateDir);
    public string Registry => Path.Combine(State, RegistryFile);
    public string Runs => Path.Combine(Root, "runs");
    public string Cfg => Path.Combine(Root, "cfg");
    public string TrialLogs => Path.Combine(Root, "out", "log");
    public string Experiments => Path.Combine(Root, "experiments");
    public string ParamsDir => Path.Combine(Root, "params");
    public string Callbacks => Path.Combine(Root, "callbacks");
    public string Reports => Path.Combine(Root, "reports");
    public string Cache => Path.Combine(State, "cache");
    public string Stores => Path.Combine(State, "stores");
    public string Models => Path.Combine(State, "models");
    public string Jobs => Path.Combine(State, "jobs");

    /// <summary>The workspace holding <paramref name="start"/>: the nearest folder at or above it with a <c>kiln.json</c>, or null.</summary>
    public static WorkspacePaths? Find(string start)
    {
        for (var dir = new DirectoryInfo(Path.GetFullPath(start)); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, ConfigFile))) return new WorkspacePaths(dir.FullName);
        }
        return null;
    }
}
