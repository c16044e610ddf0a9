using System.Diagnostics;
using Kiln.Control;
using Kiln.Kernel;
using Kiln.Modules.Loss;
using Kiln.Modules.Opt;
using Kiln.Protocol;
using Kiln.Modules;

namespace Kiln.Bench;

/// <summary>
/// Command written → applied, with the trainer at 1,000 steps/s: a writer thread appends a command every few
/// milliseconds (as <c>kiln set</c> would), and a loss actuator records when the kernel applies each one.
/// </summary>
internal static class LatencyBench
{
    private sealed class RecordingLoss : ILossActuator
    {
        public readonly long[] AppliedAt;
        public RecordingLoss(int n) => AppliedAt = new long[n];
        public IReadOnlyList<string> Terms { get; } = ["cls"];
        public double GetWeight(string term) => 0;
        public void SetWeight(string term, double weight) => AppliedAt[(int)weight] = Stopwatch.GetTimestamp();
        public bool IsEnabled(string term) => true;
        public void SetEnabled(string term, bool enabled) { }
        public LossRamp? GetRamp(string term) => null;
        public void SetRamp(string term, LossRamp? ramp) { }
    }

    public static void Run(int commands)
    {
        var dir = Path.Combine(Path.GetTempPath(), "kiln-bench-latency-" + Guid.NewGuid().ToString("N")[..8]);
        var control = new RunControl(dir);
        control.Init();
        File.WriteAllText(control.Files.ConfigPath, "version: 1\nloss:\n  bounds: {cls_w: [0, 1.0e9]}\n");
        var loss = new RecordingLoss(commands);
        using var kernel = new KilnKernel(dir, new KernelOptions());
        kernel.AddLoss(loss);
        kernel.AddOptimizer(new OptimizerDials("adam", 1e-3));
        var env = new KernelEnv { Epoch = 0, Phase = "train" };
        var writtenAt = new long[commands];
        var done = false;
        var writer = new Thread(() =>
        {
            var rng = new Random(1);
            for (var i = 0; i < commands; i++)
            {
                Thread.Sleep(2 + rng.Next(6));
                control.Send(new Command { Module = "loss", Op = "set_params", Params = new() { ["cls_w"] = i } });
                writtenAt[i] = Stopwatch.GetTimestamp();
            }
            Volatile.Write(ref done, true);
        });
        kernel.Apply(0, "train_step_end", env);
        writer.Start();
        var tick = Stopwatch.Frequency / 1000;
        var next = Stopwatch.GetTimestamp();
        long step = 1;
        var started = Stopwatch.GetTimestamp();
        while (!Volatile.Read(ref done) || loss.AppliedAt[commands - 1] == 0)
        {
            next += tick;
            while (Stopwatch.GetTimestamp() < next) Thread.SpinWait(20);   // a 1 ms training step
            kernel.Apply(step++, "train_step_end", env);
            if (Stopwatch.GetElapsedTime(started).TotalSeconds > 120) break;
        }
        kernel.End();
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var latencies = Enumerable.Range(0, commands)
            .Where(i => loss.AppliedAt[i] != 0)
            .Select(i => Math.Max(0, loss.AppliedAt[i] - writtenAt[i]) * 1000.0 / Stopwatch.Frequency)
            .Order().ToList();
        Directory.Delete(dir, recursive: true);
        Figures.Print("kernel.loop_steps_per_s", step / seconds, "steps/s", "trainer paced at 1,000 steps/s");
        Figures.Print("kernel.commands_applied", latencies.Count, "commands", $"of {commands} written");
        Figures.Print("kernel.write_to_apply_p50", Figures.Percentile(latencies, 50), "ms");
        Figures.Print("kernel.write_to_apply_p99", Figures.Percentile(latencies, 99), "ms", "target <= 20 ms; hotcb polls on every call");
        Figures.Print("kernel.write_to_apply_max", latencies.Count == 0 ? double.NaN : latencies[^1], "ms");
    }
}
