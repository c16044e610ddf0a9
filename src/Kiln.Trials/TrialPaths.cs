namespace Kiln.Trials;

/// <summary>Names shared by the trial tree: where configurations live and where trials are written.</summary>
public static class TrialPaths
{
    public const string ConfigRoot = "cfg";
    public const string ConfigFile = "cfg.yaml";
    public const string LogRoot = "out/log";
    public const string BatchLog = Kiln.Protocol.RunFiles.BatchLog;
    public const string EpochLog = Kiln.Protocol.RunFiles.EpochLog;
}
