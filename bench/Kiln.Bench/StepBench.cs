using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Kiln.Train.Autograd;
using Kiln.Train.Compute;
using Kiln.Train.Data;
using Kiln.Train.Optim;
using Kiln.Trials.Running;

namespace Kiln.Bench;

/// <summary>
/// One training step of the engine bench's model on a fixed batch (128 Fashion-MNIST images, Adam 1e-3), timed in
/// rounds of steps: the best round's time per step and, over all rounds, the time per op. A quick, quieter figure
/// than whole epochs for comparing a kernel change back to back (run it before and after on the same machine). The
/// calling thread's CPU time per step is printed too: at one thread, when other work shares the cores, it leaves out
/// the time the step waited for a core.
/// </summary>
internal static class StepBench
{
    public static void Run(string model, int threads, int rounds, int steps)
    {
        if (!FashionMnist.TryLoad(null, out var train, out _, out var reason))
        {
            Console.Error.WriteLine($"step bench: {reason}");
            return;
        }
        Workers.Threads = threads;
        var net = CfgTrainer.Model(new TrainerSettings { Dataset = "fashion_mnist", Model = model, Optimizer = "adam", Seed = 1, Hidden = model == "cnn" ? [128] : [256, 128] }, train!);
        var optimizer = new Adam([new ParamGroup("0", net.Parameters(), 1e-3)]);
        var batcher = new Batcher(train!, 128, shuffle: true, seed: 1);
        batcher.Next(out var first);
        var batch = first!;
        long step = 0;
        void Step()
        {
            optimizer.ZeroGrad();
            using (var tape = new Tape()) tape.Backward(Ops.SoftmaxCrossEntropy(net.Forward(batch.X), batch.Labels));
            optimizer.Step(step++);
        }
        for (var i = 0; i < 3 * steps; i++) Step();
        OpTimes.Reset();
        OpTimes.Enabled = true;
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var best = double.MaxValue;
        var cpuSteps = new List<double>();
        var total = TimeSpan.Zero;
        for (var r = 0; r < rounds; r++)
        {
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < steps; i++)
            {
                var cpu = ThreadCpuMs();
                Step();
                cpuSteps.Add(ThreadCpuMs() - cpu);
            }
            total += clock.Elapsed;
            best = Math.Min(best, clock.Elapsed.TotalMilliseconds / steps);
        }
        cpuSteps.Sort();
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        OpTimes.Enabled = false;
        var n = rounds * steps;
        var parts = Enum.GetValues<OpKind>().Select(k => string.Create(CultureInfo.InvariantCulture, $"{k} {OpTimes.Of(k).TotalMilliseconds / n:0.000}"));
        Figures.Print($"step.{model}.t{threads}.ms_per_step", best, "ms",
            string.Create(CultureInfo.InvariantCulture, $"best of {rounds}x{steps}; {128 / best * 1000:0} samples/s; mean {total.TotalMilliseconds / n:0.000} ms; thread CPU per step: min {cpuSteps[0]:0.000}, median {Figures.Percentile(cpuSteps, 50):0.000} ms; {allocated / (double)(rounds * steps):0} bytes allocated per step on the calling thread"));
        Console.WriteLine($"# step.{model}.t{threads} ms per op (mean): {string.Join(", ", parts)}");
    }

    private static double ThreadCpuMs()
    {
        // CLOCK_THREAD_CPUTIME_ID
        return clock_gettime(3, out var t) == 0 ? t.Seconds * 1e3 + t.Nanoseconds / 1e6 : 0;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", SetLastError = false)]
    private static extern int clock_gettime(int clock, out TimeSpec time);
}
