using Kiln.Registry.Records;
using Kiln.Registry.Store;

namespace Kiln.Registry.Tests;

/// <summary>
/// The test assembly run as a program: <c>write &lt;db&gt; &lt;prefix&gt; &lt;count&gt;</c> records <c>count</c> runs one
/// upsert (one transaction) at a time, so two such processes contend for the registry's write lock.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args is not ["write", var path, var prefix, var count]) return 2;
        using var db = RegistryDb.Open(path);
        for (var i = 0; i < int.Parse(count, System.Globalization.CultureInfo.InvariantCulture); i++)
        {
            db.Upsert(new RunRecord
            {
                Id = $"{prefix}-{i:000}", Kind = RunKinds.Train, Dir = $"runs/{prefix}-{i:000}", Status = "completed",
                Start = i, Fingerprint = prefix, Weights = $"runs/{prefix}-{i:000}/weights.safetensors",
                Params = new() { ["i"] = i },
            });
        }
        return 0;
    }
}
