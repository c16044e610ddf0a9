using System.Diagnostics;
using System.Globalization;
using System.Text;
using Kiln.Metrics.Epochs;
using Kiln.Protocol;

namespace Kiln.Bench;

/// <summary>
/// A trial's batch log of 1,000,000 rows reduced to its epoch log: Kiln's time (aggregate and write, best of 3 and
/// the first), rows/s and the file size; then pandas on the same file when Debian's python3-pandas is installed, the
/// speed-up over it, and whether the two epoch logs agree.
/// </summary>
internal static class EpochLogBench
{
    private const int Rows = 1_000_000;
    private const int Epochs = 20;
    private const int TrainPerEpoch = 45_000;
    private const int ValPerEpoch = Rows / Epochs - TrainPerEpoch;

    // pandas 1.5.3 (Debian) took 1.3–2.1 s for this task on this machine kind; the target is 5× faster.
    private const double TargetSpeedup = 5;

    public static void Run(string root)
    {
        var dir = Path.Combine(Path.GetTempPath(), "kiln-bench-epochlog-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            var batchLog = Path.Combine(dir, RunFiles.BatchLog);
            var epochLog = Path.Combine(dir, RunFiles.EpochLog);
            Generate(batchLog);
            var megabytes = new FileInfo(batchLog).Length / 1e6;

            var times = new List<double>();
            for (var i = 0; i < 3; i++)
            {
                File.Delete(epochLog);
                var clock = Stopwatch.StartNew();
                EpochLog.Ensure(dir);
                times.Add(clock.Elapsed.TotalSeconds);
            }
            var oneThread = double.MaxValue;
            for (var i = 0; i < 2; i++)
            {
                var clock = Stopwatch.StartNew();
                new EpochAggregation { Threads = 1 }.Run(batchLog);
                oneThread = Math.Min(oneThread, clock.Elapsed.TotalSeconds);
            }
            var best = times.Min();
            Figures.Print("epoch_log.kiln_seconds", best, "s", $"read + aggregate + write, {Environment.ProcessorCount} threads, best of 3; first {times[0].ToString("0.###", CultureInfo.InvariantCulture)} s");
            Figures.Print("epoch_log.kiln_seconds_t1", oneThread, "s", "aggregate only, one thread");
            Figures.Print("epoch_log.rows_per_s", Rows / best, "rows/s");
            Figures.Print("epoch_log.file_mb", megabytes, "MB", $"{Rows} rows");

            var pandasOut = Path.Combine(dir, "epoch_log.pandas.csv");
            if (Peer(root, batchLog, pandasOut) is not { } pandas) return;
            Figures.Print("peer.pandas.epoch_log_seconds", pandas, "s", "read_csv + groupby.agg + to_csv, best of 3");
            Figures.Print("epoch_log.speedup_vs_pandas", pandas / best, "x", $"target >= {TargetSpeedup}");
            var difference = Compare(epochLog, pandasOut);
            Figures.Print("epoch_log.matches_pandas", difference is null ? 1 : 0, "bool", difference);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>A seeded training log: per epoch, train batches then validation batches, values printed in round-trip form.</summary>
    private static void Generate(string path)
    {
        var rng = new Random(20_260_101);
        double Gauss() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        using var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 20);
        writer.Write("epoch,mode,batch,loss,acc,lr,iter_budget,grad_norm,error_min,error_med,error_max,iter_min,iter_med,iter_max,time\n");
        var time = 0.0;
        var line = new StringBuilder(256);
        for (var epoch = 1; epoch <= Epochs; epoch++)
        {
            // A step schedule: halved every five epochs.
            var lr = 0.1 * Math.Pow(0.5, (epoch - 1) / 5);
            foreach (var (mode, batches) in new[] { ("train", TrainPerEpoch), ("val", ValPerEpoch) })
            {
                var train = mode == "train";
                for (var batch = 0; batch < batches; batch++)
                {
                    var progress = epoch - 1 + (double)batch / batches;
                    var decay = Math.Exp(-0.12 * progress);
                    var loss = Math.Max(0.01, 2.3 * decay + 0.05 * Gauss());
                    // Accuracy over a batch of 128 samples.
                    var acc = Math.Round(128 * Math.Clamp(1 - 0.85 * decay + 0.02 * Gauss(), 0, 1)) / 128;
                    var errorMin = 1e-4 * decay * (1 + 0.1 * Math.Abs(Gauss()));
                    var errorMed = errorMin * (2 + rng.NextDouble());
                    var errorMax = errorMed * (3 + 2 * rng.NextDouble());
                    var iterMin = 3 + rng.Next(5);
                    var iterMed = iterMin + rng.Next(8);
                    var iterMax = iterMed + rng.Next(12);
                    time += (train ? 0.004 : 0.0015) + 0.001 * rng.NextDouble();
                    line.Clear()
                        .Append(epoch).Append(',').Append(mode).Append(',').Append(batch).Append(',')
                        .Append(R(loss)).Append(',').Append(R(acc)).Append(',').Append(R(lr)).Append(',')
                        .Append(20 + epoch).Append(',')
                        // Validation batches take no optimiser step, so they have no gradient norm.
                        .Append(train ? R(Math.Abs(1.5 * decay + 0.3 * Gauss())) : "").Append(',')
                        .Append(R(errorMin)).Append(',').Append(R(errorMed)).Append(',').Append(R(errorMax)).Append(',')
                        .Append(iterMin).Append(',').Append(iterMed).Append(',').Append(iterMax).Append(',')
                        .Append(R(time)).Append('\n');
                    writer.Write(line);
                }
            }
        }
    }

    /// <summary>Runs bench/peers/pandas_epochs.py; its best time in seconds, or null (with a note) when pandas is missing.</summary>
    private static double? Peer(string root, string batchLog, string output)
    {
        var script = Path.Combine(root, "bench", "peers", "pandas_epochs.py");
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        try
        {
            var info = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { script, batchLog, output }) info.ArgumentList.Add(a);
            using var p = Process.Start(info)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var error = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0)
            {
                Console.WriteLine($"# pandas peer not measured: {error.Trim().Split('\n').LastOrDefault()} (install Debian's python3-pandas)");
                return null;
            }
            foreach (var l in stdout.Result.Split('\n'))
            {
                var parts = l.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length >= 2 && parts[0] == "peer.pandas.epoch_log_seconds")
                {
                    return double.Parse(parts[1], CultureInfo.InvariantCulture);
                }
            }
            Console.WriteLine("# pandas peer printed no peer.pandas.epoch_log_seconds line");
            return null;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            Console.WriteLine($"# pandas peer not measured: {ex.Message}");
            return null;
        }
    }

    /// <summary>Null when both epoch logs have the same header, keys and counts and values equal to 1e-9 relative; else the first difference.</summary>
    private static string? Compare(string kilnPath, string pandasPath)
    {
        var kiln = File.ReadAllLines(kilnPath);
        var pandas = File.ReadAllLines(pandasPath);
        if (kiln[0] != pandas[0]) return $"headers differ: kiln '{kiln[0]}', pandas '{pandas[0]}'";
        if (kiln.Length != pandas.Length) return $"kiln has {kiln.Length - 1} rows, pandas {pandas.Length - 1}";
        var header = kiln[0].Split(',');
        for (var i = 1; i < kiln.Length; i++)
        {
            var a = kiln[i].Split(',');
            var b = pandas[i].Split(',');
            if (a.Length != b.Length) return $"row {i}: kiln has {a.Length} cells, pandas {b.Length}";
            for (var c = 0; c < a.Length; c++)
            {
                if (Same(a[c], b[c], c < 2)) continue;
                return $"row {i} ({a[0]}, {a[1]}) column {header[c]}: kiln '{a[c]}', pandas '{b[c]}'";
            }
        }
        return null;
    }

    private static bool Same(string a, string b, bool key)
    {
        if (key || a.Length == 0 || b.Length == 0) return a == b;
        var x = double.Parse(a, CultureInfo.InvariantCulture);
        var y = double.Parse(b, CultureInfo.InvariantCulture);
        return x == y || Math.Abs(x - y) <= 1e-9 * Math.Max(Math.Abs(x), Math.Abs(y));
    }
}
