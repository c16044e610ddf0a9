using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using Kiln.Bench;

// dotnet run -c Release --project bench/Kiln.Bench -- <suite> [options]
//   kernel [--commands N] [--kiln PATH]   idle Apply and Apply with one callback (BenchmarkDotNet), the same in a loop that trains
//                                         between safe points, write→apply latency at 1 kHz, `kiln status` process time
//   engine [--model mlp|cnn] [--epochs N] [--threads N]
//                                         the MLP and the trial CNN on Fashion-MNIST (samples/s, test accuracy per epoch, time
//                                         per op, the GEMM-bound limit) beside PyTorch, GEMM GFLOP/s, metrics writer
//   scripting                             loading C# callbacks: cold, after warm-up, later, cached (milliseconds)
//   trials [--kiln PATH] [--runs N]       expanding a 10,000-trial tree; batch_log.csv (10^6 rows) -> epoch_log.csv beside pandas,
//                                         whole processes (the published kiln, scripts/publish.sh), time and peak memory
//   dashboard [--points N] [--runs N]     metrics answers of a 10^6-point run, downsampling, the list of 10,000 runs
//   registry [--kiln PATH] [--runs N] [--records N]
//                                         10,000 registry records: kiln models (--json) as whole processes beside DVC's
//                                         exp show, and a rebuild of the registry from 10,000 run folders
//   page [--loads N] [--trace FILE]       the run page of a 100-step run in chromium: the browser's own floor, by phase
//   snapshot [--runs N]                   a code snapshot of a 10,000-file repository with 10 changed and 2 new files (in-process,
//                                         median), beside DVC's way (git stash push -u && git stash pop); tree and index unchanged
//   experiments [--kiln PATH] [--runs N]  100 parameter sets x 5 JSON-cached stages, fully cached re-run: in-process, and the
//                                         published kiln as a whole process without and with its report (curifactory quoted)
//   slurm [--tasks N] [--runs N]          submitting a 1,000-task job array (held) and reading its 1,000 tasks' status in one call,
//                                         beside one squeue call per task (needs a cluster: scripts/slurm-up.sh)
//   slurm-requeue [--kiln PATH] [--trials N] [--requeues N] [--steps N] [--seed N]
//                                         a 20-trial sweep on the cluster, each trial requeued (scontrol requeue) 3 times at random
//                                         steps: every trial completes, resumes from its checkpoints, and equals its uninterrupted run
//   python [--applies N] [--commands N] [--steps N] [--rounds N]
//                                         the Python client: idle apply beside hotcb, command->applied latency at 1 kHz,
//                                         overhead on a PyTorch training step (bench/python/kiln_client_bench.py)
//   checkpoint [--steps N] [--runs N]     checkpoint write and resume time of the built-in simple and multitask runs (in process)
//   step [--model cnn|mlp] [--threads N] [--rounds N] [--steps N]   one training step on a fixed batch, per op
//   micro [BenchmarkDotNet args]          every BenchmarkDotNet benchmark (--filter '*Idle*', --job short, …)
var suite = args.Length > 0 ? args[0] : "kernel";
var rest = args.Skip(1).ToArray();
string? Option(string name) => Array.IndexOf(rest, name) is var i and >= 0 && i + 1 < rest.Length ? rest[i + 1] : null;
var root = FindRoot();

switch (suite)
{
    case "kernel":
    {
        var config = DefaultConfig.Instance.AddJob(Job.Default.WithWarmupCount(3).WithIterationCount(10)).WithOptions(ConfigOptions.DisableLogFile);
        var summary = BenchmarkRunner.Run<KernelBenchmarks>(config);
        var idle = summary.Reports.FirstOrDefault()?.ResultStatistics?.Mean;
        if (idle is { } ns) Figures.Print("kernel.idle_apply", ns / 1000.0, "us", "hotcb apply: 11.9 us; target <= 0.2 us");
        var withCallback = BenchmarkRunner.Run<CallbackBenchmarks>(config).Reports.FirstOrDefault()?.ResultStatistics?.Mean;
        if (withCallback is { } cb) Figures.Print("kernel.callback_apply", cb / 1000.0, "us", "one enabled callback that does nothing, safe points back to back");
        CallbackSpacedBench.Run(5000, 200);
        CallbackSpacedBench.Run(2000, 1000);
        LatencyBench.Run(int.Parse(Option("--commands") ?? "1000", System.Globalization.CultureInfo.InvariantCulture));
        StatusBench.Run(Option("--kiln") ?? Path.Combine(root, ".kiln-bin", "kiln"), 30);
        return 0;
    }
    case "engine":
        if (Option("--model") is { } m && m is not ("mlp" or "cnn"))
        {
            Console.Error.WriteLine($"engine: --model must be mlp or cnn, got '{m}'");
            return 2;
        }
        EngineBench.Run(root, int.Parse(Option("--epochs") ?? "5", System.Globalization.CultureInfo.InvariantCulture),
            Option("--model") is { } model ? [model] : ["mlp", "cnn"],
            Option("--threads") is { } threads ? [int.Parse(threads, System.Globalization.CultureInfo.InvariantCulture)] : [1, 2]);
        return 0;
    case "step":
        foreach (var t in Option("--threads") is { } st ? [int.Parse(st, System.Globalization.CultureInfo.InvariantCulture)] : new[] { 1, 2 })
            StepBench.Run(Option("--model") ?? "cnn", t, int.Parse(Option("--rounds") ?? "5", System.Globalization.CultureInfo.InvariantCulture),
                int.Parse(Option("--steps") ?? "20", System.Globalization.CultureInfo.InvariantCulture));
        return 0;
    case "scripting":
        ScriptingBench.Run();
        return 0;
    case "scripting-cold":
        ScriptingBench.Cold();
        return 0;
    case "trials":
        TrialsBench.Expand();
        EpochLogBench.Run(root, Option("--kiln") ?? Path.Combine(root, ".kiln-bin", "kiln"),
            int.Parse(Option("--runs") ?? "5", System.Globalization.CultureInfo.InvariantCulture));
        return 0;
    case "dashboard":
        await DashboardBench.Run(
            int.Parse(Option("--points") ?? "1000000", System.Globalization.CultureInfo.InvariantCulture),
            int.Parse(Option("--runs") ?? "10000", System.Globalization.CultureInfo.InvariantCulture));
        return 0;
    case "registry":
        RegistryBench.Run(Option("--kiln") ?? Path.Combine(root, ".kiln-bin", "kiln"),
            int.Parse(Option("--runs") ?? "10", System.Globalization.CultureInfo.InvariantCulture),
            int.Parse(Option("--records") ?? "10000", System.Globalization.CultureInfo.InvariantCulture));
        return 0;
    case "page":
        await PageLoadBench.Run(int.Parse(Option("--loads") ?? "15", System.Globalization.CultureInfo.InvariantCulture), Option("--trace"));
        return 0;
    case "snapshot":
        SnapshotBench.Run(int.Parse(Option("--runs") ?? "15", System.Globalization.CultureInfo.InvariantCulture));
        return 0;
    case "train":
        TrainOverheadBench.Run(root, Option("--kiln") ?? Path.Combine(root, ".kiln-bin", "kiln"),
            int.Parse(Option("--runs") ?? "7", System.Globalization.CultureInfo.InvariantCulture));
        return 0;
    case "checkpoint":
        CheckpointBench.Run(int.Parse(Option("--steps") ?? "40", System.Globalization.CultureInfo.InvariantCulture),
            int.Parse(Option("--runs") ?? "3", System.Globalization.CultureInfo.InvariantCulture));
        return 0;
    case "experiments":
        ExperimentsBench.Run(Option("--kiln") ?? Path.Combine(root, ".kiln-bin", "kiln"),
            int.Parse(Option("--runs") ?? "7", System.Globalization.CultureInfo.InvariantCulture));
        return 0;
    case "slurm":
        return SlurmBench.Run(int.Parse(Option("--tasks") ?? "1000", System.Globalization.CultureInfo.InvariantCulture),
            int.Parse(Option("--runs") ?? "5", System.Globalization.CultureInfo.InvariantCulture));
    case "slurm-requeue":
        return SlurmRequeueBench.Run(Option("--kiln") ?? Path.Combine(root, ".kiln-bin", "kiln"),
            int.Parse(Option("--trials") ?? "20", System.Globalization.CultureInfo.InvariantCulture),
            int.Parse(Option("--requeues") ?? "3", System.Globalization.CultureInfo.InvariantCulture),
            int.Parse(Option("--steps") ?? "200", System.Globalization.CultureInfo.InvariantCulture),
            int.Parse(Option("--seed") ?? "1", System.Globalization.CultureInfo.InvariantCulture));
    case "python":
        return PythonClientBench.Run(root, rest);
    case "micro":
        BenchmarkSwitcher.FromAssembly(typeof(KernelBenchmarks).Assembly).Run(rest);
        return 0;
    default:
        Console.Error.WriteLine($"unknown suite '{suite}' (kernel, engine, scripting, trials, dashboard, registry, page, snapshot, train, experiments, slurm, slurm-requeue, python, micro)");
        return 2;
}

static string FindRoot()
{
    var dir = new DirectoryInfo(AppContext.BaseDirectory);
    while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Kiln.slnx"))) dir = dir.Parent;
    return dir?.FullName ?? Directory.GetCurrentDirectory();
}
