using System.Diagnostics;
using System.Globalization;
using Kiln.Metrics;
using Kiln.Train.Autograd;
using Kiln.Train.Compute;
using Kiln.Train.Data;
using Kiln.Train.Nn;
using Kiln.Train.Optim;
using Kiln.Train.Tensors;
using Kiln.Trials.Running;

namespace Kiln.Bench;

/// <summary>
/// The engine's figures on Fashion-MNIST (batch 128, Adam 1e-3): the MLP 784-256-128-10 and the built-in trial CNN
/// (conv3×3 16 → pool → conv3×3 32 → pool → fc 128 → fc 10) — samples/s and test accuracy after every epoch for the
/// managed kernels on one and two threads, the share of step time per kind of operation, the GEMM-bound limit, and
/// PyTorch measured in the same run at its fastest (Debian's python3-torch with OpenBLAS pinned to its Haswell
/// kernels, one and two threads); matrix-product GFLOP/s for the layer shapes; and the metrics writer's throughput.
/// </summary>
internal static class EngineBench
{
    public static void Run(string root, int epochs, IReadOnlyList<string> models, IReadOnlyList<int> threads)
    {
        var peakGflops = Gemms();
        MetricsWriterThroughput();
        if (!FashionMnist.TryLoad(null, out var train, out var test, out var reason))
        {
            Console.Error.WriteLine($"engine bench: {reason}; install Debian's dataset-fashion-mnist (scripts/setup.sh does)");
            return;
        }
        foreach (var model in models)
        {
            var flops = TrainingFlopsPerSample(Build(model, train!));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# {model}: {flops / 1e6:0.00} MFLOP per training sample (forward and backward)"));
            var kiln = 0.0;
            foreach (var t in threads)
            {
                var best = Train(model, t, GemmBackend.Managed, train!, test!, epochs);
                kiln = Math.Max(kiln, best);
                // The limit: every FLOP at the managed GEMM's own speed on a 512³ product, on t cores.
                var limit = peakGflops * 1e9 * t / flops;
                Figures.Print($"engine.{model}.kiln_t{t}.limit", limit, "samples/s",
                    string.Create(CultureInfo.InvariantCulture, $"GEMM-bound ({peakGflops:0} GFLOP/s per core x {t}); best epoch is {100 * best / limit:0}% of it"));
            }
            if (model == "mlp" && OpenBlas.IsAvailable) Train(model, 1, GemmBackend.OpenBlas, train!, test!, epochs);
            else if (model == "mlp") Console.WriteLine("# openblas: libopenblas0 is not installed; its row is skipped");
            Gemm.Backend = GemmBackend.Managed;
            Workers.Threads = Environment.ProcessorCount;
            var peer = Peer(root, model, epochs, threads);
            if (peer > 0)
                Figures.Print($"engine.{model}.kiln_vs_pytorch", kiln / peer, "x",
                    string.Create(CultureInfo.InvariantCulture, $"best epoch of each: Kiln {kiln:0} against PyTorch {peer:0} samples/s; target >= 2x"));
        }
    }

    /// <summary>
    /// The model the figures are about, built as the trial trainer builds it: the MLP 784-256-128-10, or the CNN with
    /// its documented fc width of 128 (docs/trials.md).
    /// </summary>
    private static Module Build(string model, Dataset train) =>
        CfgTrainer.Model(new TrainerSettings { Dataset = "fashion_mnist", Model = model, Optimizer = "adam", Seed = 1, Hidden = model == "cnn" ? [128] : [256, 128] }, train);

    /// <summary>Trains <paramref name="epochs"/> epochs and prints their figures; returns the best epoch's samples/s.</summary>
    private static double Train(string modelName, int threads, GemmBackend backend, Dataset train, Dataset test, int epochs)
    {
        Workers.Threads = threads;
        Gemm.Backend = backend;
        var name = $"engine.{modelName}.{(backend == GemmBackend.OpenBlas ? "openblas" : "kiln")}_t{threads}";
        var model = Build(modelName, train);
        var optimizer = new Adam([new ParamGroup("0", model.Parameters(), 1e-3)]);
        var batcher = new Batcher(train, 128, shuffle: true, seed: 1);
        long step = 0;
        var best = 0.0;
        var trainTime = TimeSpan.Zero;
        OpTimes.Reset();
        OpTimes.Enabled = true;
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
            trainTime += clock.Elapsed;
            var rate = samples / clock.Elapsed.TotalSeconds;
            best = Math.Max(best, rate);
            OpTimes.Enabled = false;
            var (_, accuracy) = Kiln.Train.Runs.TrainingLoop.EvaluateClassifier(model, test);
            OpTimes.Enabled = true;
            Figures.Print($"{name}.samples_per_s.epoch{epoch}", rate, "samples/s");
            Figures.Print($"{name}.test_accuracy.epoch{epoch}", accuracy, "acc");
        }
        OpTimes.Enabled = false;
        PrintShares(name, trainTime);
        return best;
    }

    /// <summary>Where the training time went, as shares of it; "other" is batching, the tape's bookkeeping and the loop.</summary>
    private static void PrintShares(string name, TimeSpan total)
    {
        var parts = new List<string>();
        var accounted = TimeSpan.Zero;
        foreach (var kind in Enum.GetValues<OpKind>())
        {
            var t = OpTimes.Of(kind);
            accounted += t;
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{Label(kind)} {100 * t / total:0.0}%"));
        }
        parts.Add(string.Create(CultureInfo.InvariantCulture, $"other {100 * (total - accounted) / total:0.0}%"));
        Console.WriteLine($"# {name} time per op: {string.Join(", ", parts)}");
    }

    private static string Label(OpKind kind) => kind switch
    {
        OpKind.ConvForward => "conv fwd",
        OpKind.ConvBackwardData => "conv bwd data",
        OpKind.ConvBackwardWeights => "conv bwd weights",
        OpKind.Pooling => "pooling",
        OpKind.Gemm => "gemm (linear)",
        OpKind.Elementwise => "elementwise",
        OpKind.Loss => "loss",
        _ => "optimizer",
    };

    /// <summary>
    /// Multiply-adds ×2 of one training sample: each convolution and linear layer's forward product, its weight
    /// gradient, and its input gradient except for the first layer (the images need none).
    /// </summary>
    private static double TrainingFlopsPerSample(Module model)
    {
        var sample = new Tensor([1, 1, 28, 28]);
        var perLayer = new List<double>();
        Sequential.Observer = (layer, y) =>
        {
            if (layer is Linear l) perLayer.Add(2.0 * l.Weight.Size);
            else if (layer is Conv2d c) perLayer.Add(2.0 * c.Weight.Size * y.Shape[2] * y.Shape[3]);
        };
        try
        {
            using var tape = new Tape(recordGradients: false);
            model.Forward(sample);
        }
        finally
        {
            Sequential.Observer = null;
        }
        return 3 * perLayer.Sum() - (perLayer.Count > 0 ? perLayer[0] : 0);
    }

    /// <summary>GFLOP/s of the layer shapes; returns the 512³ product's rate on one thread, the per-core speed the limits use.</summary>
    private static double Gemms()
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
        var peak = 0.0;
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
                var gflops = 2.0 * m * n * k * reps / clock.Elapsed.TotalSeconds / 1e9;
                if (threads == 1 && name == "square512") peak = gflops;
                Figures.Print($"engine.gemm.{name}.t{threads}", gflops, "GFLOP/s");
            }
        }
        return peak;
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

    /// <summary>
    /// PyTorch on the same task at each thread count, when Debian's python3-torch is installed (it is built for
    /// /usr/bin/python3, not a pyenv interpreter); returns its best epoch's samples/s, or 0 when it could not run.
    /// </summary>
    private static double Peer(string root, string model, int epochs, IReadOnlyList<int> threads)
    {
        var script = Path.Combine(root, "bench", "peers", "torch_engine.py");
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var best = 0.0;
        foreach (var t in threads)
        {
            try
            {
                var info = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                foreach (var a in new[] { script, "--model", model, "--epochs", epochs.ToString(CultureInfo.InvariantCulture), "--threads", t.ToString(CultureInfo.InvariantCulture) })
                    info.ArgumentList.Add(a);
                // PyTorch's fastest configuration here (DESIGN.md §7): Debian's OpenBLAS otherwise picks a kernel that runs at half speed.
                info.Environment["OPENBLAS_CORETYPE"] = "Haswell";
                info.Environment["OPENBLAS_NUM_THREADS"] = "1";
                info.Environment["OMP_NUM_THREADS"] = t.ToString(CultureInfo.InvariantCulture);
                using var p = Process.Start(info)!;
                var error = p.StandardError.ReadToEndAsync();
                string? line;
                while ((line = p.StandardOutput.ReadLine()) is not null)
                {
                    Console.WriteLine(line);
                    var f = line.Split(' ');
                    if (f.Length >= 2 && f[0].Contains(".samples_per_s.", StringComparison.Ordinal) && double.TryParse(f[1], CultureInfo.InvariantCulture, out var v))
                        best = Math.Max(best, v);
                }
                p.WaitForExit();
                if (p.ExitCode != 0)
                {
                    var last = error.Result.Trim().Split('\n').LastOrDefault();
                    Console.WriteLine($"# pytorch peer not measured: PyTorch is absent or failed ({last}); install Debian's python3-torch for {python}");
                    return 0;
                }
            }
            catch (System.ComponentModel.Win32Exception ex)
            {
                Console.WriteLine($"# pytorch peer not measured: {python} cannot run ({ex.Message}); install Debian's python3-torch");
                return 0;
            }
        }
        return best;
    }
}
