using System.Diagnostics;
using System.Globalization;
using Kiln.Metrics;
using Kiln.Train.Autograd;
using Kiln.Train.Compute;
using Kiln.Train.Data;
using Kiln.Train.Nn;
using Kiln.Train.Optim;
using Kiln.Train.Tensors;

namespace Kiln.Bench;

/// <summary>
/// The engine's figures: the MLP 784-256-128-10 (batch 128, Adam 1e-3) on Fashion-MNIST — samples/s and test
/// accuracy after every epoch — for the managed kernels on one and two threads and for OpenBLAS when installed,
/// with PyTorch measured in the same run when Debian's python3-torch is present; matrix-product GFLOP/s for the
/// layer shapes; and the metrics writer's throughput.
/// </summary>
internal static class EngineBench
{
    // PyTorch 1.13 (Debian) with OpenBLAS, one thread, on this machine kind (DESIGN.md §7).
    private const double AnchorSamplesPerSecond = 75_000;
    private static readonly double[] AnchorAccuracy = [0.824, 0.859, 0.869, 0.871, 0.876];

    public static void Run(int epochs, string root)
    {
        Gemms();
        MetricsWriterThroughput();
        if (!FashionMnist.TryLoad(null, out var train, out var test, out var reason))
        {
            Console.Error.WriteLine($"engine bench: {reason}; install Debian's dataset-fashion-mnist (scripts/setup.sh does)");
            return;
        }
        var configs = new List<(string Name, int Threads, GemmBackend Backend)> { ("managed_t1", 1, GemmBackend.Managed), ("managed_t2", 2, GemmBackend.Managed) };
        if (OpenBlasAvailable()) configs.Add(("openblas_t1", 1, GemmBackend.OpenBlas));
        else Console.WriteLine("# openblas: libopenblas0 is not installed; its row is skipped");
        foreach (var (name, threads, backend) in configs) Mlp(name, threads, backend, train!, test!, epochs);
        Gemm.Backend = GemmBackend.Managed;
        Workers.Threads = Environment.ProcessorCount;
        Peer(root, epochs);
    }

    private static bool OpenBlasAvailable()
    {
        var saved = Gemm.Backend;
        try
        {
            Gemm.Backend = GemmBackend.OpenBlas;
            Gemm.Sgemm(false, false, 1, 1, 1, 1f, [1f], 0, 1, [1f], 0, 1, 0f, new float[1], 0, 1);
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
        finally
        {
            Gemm.Backend = saved;
        }
    }

    private static void Mlp(string name, int threads, GemmBackend backend, Dataset train, Dataset test, int epochs)
    {
        Workers.Threads = threads;
        Gemm.Backend = backend;
        var rng = Rng.For(1, "bench.model");
        var model = new Sequential(new Flatten(), new Linear(784, 256, rng), new ReLU(), new Linear(256, 128, rng), new ReLU(), new Linear(128, 10, rng));
        var optimizer = new Adam([new ParamGroup("0", model.Parameters(), 1e-3)]);
        var batcher = new Batcher(train, 128, shuffle: true, seed: 1);
        long step = 0;
        for (var epoch = 1; epoch <= epochs; epoch++)
        {
            var samples = 0;
            var clock = Stopwatch.StartNew();
            while (batcher.Next(out var batch))
            {
                optimizer.ZeroGrad();
                using (var tape = new Tape())
                {
                    tape.Backward(Ops.SoftmaxCrossEntropy(model.Forward(batch.X), batch.Labels));
                }
                optimizer.Step(step++);
                samples += batch.Size;
            }
            var seconds = clock.Elapsed.TotalSeconds;
            var (_, accuracy) = Kiln.Train.Runs.TrainingLoop.EvaluateClassifier(model, test);
            var anchor = epoch <= AnchorAccuracy.Length ? AnchorAccuracy[epoch - 1] : double.NaN;
            Figures.Print($"engine.mlp.{name}.samples_per_s.epoch{epoch}", samples / seconds, "samples/s", $"PyTorch anchor {AnchorSamplesPerSecond:0}");
            Figures.Print($"engine.mlp.{name}.test_accuracy.epoch{epoch}", accuracy, "acc", $"PyTorch anchor {anchor.ToString("0.000", CultureInfo.InvariantCulture)}");
        }
    }

    private static void Gemms()
    {
        Console.WriteLine($"# gemm kernel: {Gemm.KernelName}");
        var shapes = new (string Name, bool TA, bool TB, int M, int N, int K)[]
        {
            ("fc1_forward", false, true, 128, 256, 784),
            ("fc1_weight_grad", true, false, 256, 784, 128),
            ("fc2_forward", false, true, 128, 128, 256),
            ("square512", false, false, 512, 512, 512),
        };
        var rng = new Rng(3);
        foreach (var threads in new[] { 1, 2 })
        {
            Workers.Threads = threads;
            foreach (var (name, ta, tb, m, n, k) in shapes)
            {
                var a = new float[m * k];
                var b = new float[k * n];
                var c = new float[m * n];
                rng.FillUniform(a, -1, 1);
                rng.FillUniform(b, -1, 1);
                for (var i = 0; i < 20; i++) Gemm.Sgemm(ta, tb, m, n, k, 1f, a, 0, ta ? m : k, b, 0, tb ? k : n, 0f, c, 0, n);
                var reps = 0;
                var clock = Stopwatch.StartNew();
                while (clock.ElapsedMilliseconds < 500)
                {
                    Gemm.Sgemm(ta, tb, m, n, k, 1f, a, 0, ta ? m : k, b, 0, tb ? k : n, 0f, c, 0, n);
                    reps++;
                }
                Figures.Print($"engine.gemm.{name}.t{threads}", 2.0 * m * n * k * reps / clock.Elapsed.TotalSeconds / 1e9, "GFLOP/s");
            }
        }
    }

    private static void MetricsWriterThroughput()
    {
        var dir = Path.Combine(Path.GetTempPath(), "kiln-bench-metrics-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        const int records = 300_000;
        (string, double)[] values = [("train_loss", 0), ("accuracy", 0), ("lr", 0), ("grad_norm", 0), ("val_loss", 0), ("val_accuracy", 0), ("a", 0), ("b", 0), ("c", 0), ("d", 0)];
        var clock = Stopwatch.StartNew();
        double producer;
        using (var writer = new MetricsWriter(Path.Combine(dir, "kiln.metrics.jsonl")))
        {
            for (var i = 0; i < records; i++)
            {
                for (var j = 0; j < values.Length; j++) values[j].Item2 = i * 0.001 + j;
                writer.Write(i, 0, "train", values);
            }
            producer = clock.Elapsed.TotalSeconds;
            writer.Flush();
        }
        var total = clock.Elapsed.TotalSeconds;
        var lines = File.ReadLines(Path.Combine(dir, "kiln.metrics.jsonl")).Count();
        Directory.Delete(dir, recursive: true);
        Figures.Print("metrics_writer.loop_values_per_s", records * values.Length / producer, "values/s", "time the training loop spends; target >= 1,000,000");
        Figures.Print("metrics_writer.on_disk_values_per_s", records * values.Length / total, "values/s", $"until all {lines} lines are written");
    }

    /// <summary>PyTorch on the same task, when Debian's python3-torch is installed.</summary>
    private static void Peer(string root, int epochs)
    {
        var script = Path.Combine(root, "bench", "peers", "torch_mlp.py");
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        try
        {
            var info = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { script, "--epochs", epochs.ToString(CultureInfo.InvariantCulture) }) info.ArgumentList.Add(a);
            info.Environment["OMP_NUM_THREADS"] = "1";
            using var p = Process.Start(info)!;
            var output = p.StandardOutput.ReadToEnd();
            var error = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode == 0) Console.Write(output);
            else Console.WriteLine($"# pytorch peer not measured: {error.Trim().Split('\n').LastOrDefault()} (install Debian's python3-torch)");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            Console.WriteLine($"# pytorch peer not measured: {ex.Message}");
        }
    }
}
