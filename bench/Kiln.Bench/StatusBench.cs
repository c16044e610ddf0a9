using System.Diagnostics;
using Kiln.Control;
using Kiln.IO;
using Kiln.Kernel;
using Kiln.Modules.Loss;
using Kiln.Modules.Opt;
using Kiln.Protocol;

namespace Kiln.Bench;

/// <summary><c>kiln status</c> as a whole process, start to exit, on a run with 1,000 commands in its ledger.</summary>
internal static class StatusBench
{
    public static void Run(string kiln, int runs)
    {
        if (!File.Exists(kiln))
        {
            Console.Error.WriteLine($"status bench: no kiln executable at {kiln}; run scripts/publish.sh (or pass --kiln <path>)");
            return;
        }
        var dir = Path.Combine(Path.GetTempPath(), "kiln-bench-status-" + Guid.NewGuid().ToString("N")[..8]);
        var control = new RunControl(dir);
        control.Init();
        using (var kernel = new KilnKernel(dir, new KernelOptions { PollInterval = TimeSpan.Zero }))
        {
            kernel.AddOptimizer(new OptimizerDials("adam", 1e-3));
            kernel.AddLoss(new LossDials([("cls", 1.0), ("recon", 1.0)]));
            for (var i = 0; i < 1000; i++)
            {
                control.Send(new Command { Module = i % 2 == 0 ? "opt" : "loss", Op = "set_params", Params = i % 2 == 0 ? new() { ["lr"] = 1e-4 * (1 + i % 7) } : new() { ["cls_w"] = i % 10 } });
                kernel.Apply(i, "train_step_end");
            }
            kernel.End();
        }
        var times = new List<double>();
        for (var i = 0; i < runs + 3; i++)
        {
            var info = new ProcessStartInfo(kiln) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "--dir", dir, "status" }) info.ArgumentList.Add(a);
            var sw = Stopwatch.StartNew();
            using var p = Process.Start(info)!;
            p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            sw.Stop();
            if (p.ExitCode != 0) throw new InvalidOperationException($"kiln status exited {p.ExitCode}: {p.StandardError.ReadToEnd()}");
            if (i >= 3) times.Add(sw.Elapsed.TotalSeconds);
        }
        Directory.Delete(dir, recursive: true);
        times.Sort();
        Figures.Print("status.process_median", Figures.Percentile(times, 50), "s", "hotcb status: 0.15 s; target <= 0.1 s");
        Figures.Print("status.process_p90", Figures.Percentile(times, 90), "s");
    }
}
