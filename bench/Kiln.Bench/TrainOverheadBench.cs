using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Kiln.Bench;

/// <summary>
/// <c>kiln train</c>'s cost beside running the same training program bare: a workspace in a git repository whose train
/// command is samples/numb-workflow, timed as whole processes — the bare program, then <c>kiln train --yes</c> (claim
/// a run folder, snapshot the code, run the program as a child, watch its files, record the run).
/// </summary>
internal static class TrainOverheadBench
{
    public static void Run(string root, string kiln, int runs)
    {
        var sample = Path.Combine(root, "samples", "numb-workflow", "bin", "Release", "net10.0", "NumbWorkflow.dll");
        if (!File.Exists(sample)) throw new FileNotFoundException($"{sample}: build it first (dotnet build samples/numb-workflow -c Release)");
        if (!File.Exists(kiln)) throw new FileNotFoundException($"{kiln}: publish kiln first (bash scripts/publish.sh)");
        var workspace = Path.Combine(Path.GetTempPath(), $"kiln-bench-train-{Guid.NewGuid():N}");
        Directory.CreateDirectory(workspace);
        try
        {
            Exec(workspace, "git", "init", "-q", "-b", "main");
            File.WriteAllText(Path.Combine(workspace, "README"), "bench\n");
            Exec(workspace, "git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "add", "-A");
            Exec(workspace, "git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q", "-m", "first");
            Exec(workspace, kiln, "workspace", "init");
            var configPath = Path.Combine(workspace, "kiln.json");
            var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
            config["train"] = new JsonArray(new JsonArray("dotnet", sample));
            File.WriteAllText(configPath, config.ToJsonString());

            Exec(workspace, "dotnet", sample); // warm the file cache
            var bare = new List<double>();
            var kilnTrain = new List<double>();
            for (var i = 0; i < runs; i++)
            {
                bare.Add(Exec(workspace, "dotnet", sample));
                kilnTrain.Add(Exec(workspace, kiln, "train", "--yes", "--silent", "--plain"));
            }
            bare.Sort();
            kilnTrain.Sort();
            var (b, k) = (Figures.Percentile(bare, 0.5), Figures.Percentile(kilnTrain, 0.5));
            Figures.Print("train program bare (median)", b, "s", $"{runs} runs of samples/numb-workflow: 150 steps");
            Figures.Print("kiln train --yes (median)", k, "s", "run folder, code snapshot, child, record");
            Figures.Print("kiln train overhead", k - b, "s", string.Create(CultureInfo.InvariantCulture, $"{k / b:0.00}x the bare program"));
        }
        finally
        {
            Directory.Delete(workspace, recursive: true);
        }
    }

    private static double Exec(string dir, string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        var watch = Stopwatch.StartNew();
        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        watch.Stop();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{program} {string.Join(' ', args)}: exit {p.ExitCode}\n{output.Result}\n{error.Result}");
        return watch.Elapsed.TotalSeconds;
    }
}
