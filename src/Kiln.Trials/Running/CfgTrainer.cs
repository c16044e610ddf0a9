using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Modules.Loss;
using Kiln.Modules.Opt;
using Kiln.Protocol;
using Kiln.Train.Autograd;
using Kiln.Train.Data;
using Kiln.Train.Nn;
using Kiln.Train.Optim;
using Kiln.Runs;
using Kiln.Train.Runs;
using Kiln.Train.Runs.Checkpoints;
using Kiln.Train.Tensors;

namespace Kiln.Trials.Running;

/// <summary>A trial's training settings, read from its resolved cfg.yaml (docs/trials.md lists the keys).</summary>
public sealed record TrainerSettings
{
    public required string Dataset { get; init; }
    public required string Model { get; init; }
    public int[] Hidden { get; init; } = [256, 128];
    public int[] Channels { get; init; } = [16, 32];
    public required string Optimizer { get; init; }
    public double Lr { get; init; } = 1e-3;
    public double WeightDecay { get; init; }
    public double Momentum { get; init; }
    public bool Nesterov { get; init; }
    public LrSchedule? Schedule { get; init; }
    public int Epochs { get; init; } = 1;
    public int BatchSize { get; init; } = 128;
    public long Seed { get; init; }
    public long? MaxSteps { get; init; }
    /// <summary>Steps between periodic checkpoints (0: only when the trial is stopped), so a killed trial loses at most that many.</summary>
    public int CheckpointEvery { get; init; }
    public string[] BatchMetrics { get; init; } = [];
    public string? DataDir { get; init; }
}

/// <summary>
/// The built-in trial trainer: Kiln.Train on Fashion-MNIST or synthetic data, an MLP or a small CNN, SGD, Adam or
/// AdamW — all read from cfg keys, with the folder names (<c>&lt;dataset&gt;/&lt;model&gt;/&lt;trainer&gt;</c>) as defaults. It
/// streams <c>kiln.metrics.jsonl</c> while it trains, runs the kernel at its safe points, evaluates on the test set
/// after every epoch, and writes <c>batch_log.csv</c> only when it finishes, atomically: the file's existence marks
/// the trial complete.
/// </summary>
public static class CfgTrainer
{
    public static readonly string[] Keys =
    [
        "seed", "dataset", "model", "hidden", "channels", "trainer", "lr", "weight_decay", "momentum", "nesterov", "schedule",
        "epochs", "batch_size", "max_steps", "checkpoint_every", "batch_metrics", "data_dir", "command",
    ];

    /// <summary>Extra per-batch columns a trial can ask for in <c>batch_metrics</c>.</summary>
    public static readonly string[] ExtraMetrics = ["param_norm", "grad_max", "step_ms"];

    /// <summary>The columns every <c>batch_log.csv</c> starts with.</summary>
    public static readonly string[] Columns = ["epoch", "mode", "batch", "loss", "acc", "lr", "grad_norm", "time"];

    public static TrainerSettings Read(JsonObject cfg, string dataset, string model, string trainer, string where = "cfg.yaml")
    {
        string Key(string k) => $"{where}: {k}";
        foreach (var (key, _) in cfg)
        {
            if (!key.StartsWith('_') && Array.IndexOf(Keys, key) < 0)
                throw new ProtocolException($"{Key(key)}: unknown key (the built-in trainer reads {string.Join(", ", Keys)}; keys starting with _ are comments; set command: to train with your own program)");
        }
        T Get<T>(string key, Func<JsonNode?, string, T> read, T fallback) => cfg[key] is { } n ? read(n, Key(key)) : fallback;
        double Positive(JsonNode? n, string k) => JsonValues.GetDouble(n, k) is var v && v > 0 ? v : throw new ProtocolException($"{k}: must be > 0, got {JsonValues.Show(n)}");
        double NonNegative(JsonNode? n, string k) => JsonValues.GetDouble(n, k) is var v && v >= 0 ? v : throw new ProtocolException($"{k}: must be >= 0, got {JsonValues.Show(n)}");
        int Count(JsonNode? n, string k) => JsonValues.GetLong(n, k) is var v && v >= 1 && v <= int.MaxValue ? (int)v : throw new ProtocolException($"{k}: must be a whole number >= 1, got {JsonValues.Show(n)}");
        int[] Sizes(JsonNode? n, string k) => n switch
        {
            JsonArray a when a.Count > 0 => a.Select((x, i) => Count(x, $"{k}[{i}]")).ToArray(),
            JsonValue => [Count(n, k)],
            _ => throw new ProtocolException($"{k}: expected a size or a list of sizes, got {JsonValues.Show(n)}"),
        };

        var modelType = model;
        var hidden = new[] { 256, 128 };
        var channels = new[] { 16, 32 };
        if (cfg["model"] is JsonObject m)
        {
            JsonValues.RejectUnknownKeys(m, ["type", "hidden", "channels"], Key("model") + ": ");
            modelType = JsonValues.GetString(m["type"], Key("model.type"));
            if (m["hidden"] is { } h) hidden = Sizes(h, Key("model.hidden"));
            if (m["channels"] is { } c) channels = Sizes(c, Key("model.channels"));
        }
        else if (cfg["model"] is { } name)
        {
            modelType = JsonValues.GetString(name, Key("model"));
        }
        if (cfg["hidden"] is { } hid) hidden = Sizes(hid, Key("hidden"));
        if (cfg["channels"] is { } ch) channels = Sizes(ch, Key("channels"));
        if (modelType is not ("mlp" or "cnn"))
            throw new ProtocolException($"{Key("model")}: unknown model \"{modelType}\" (built-in: mlp, cnn; set command: to train your own)");
        if (modelType == "cnn" && channels.Length != 2) throw new ProtocolException($"{Key("channels")}: the cnn takes two conv widths, got {channels.Length}");

        var data = Get("dataset", JsonValues.GetString, dataset) switch
        {
            "fashion_mnist" or "fashion-mnist" or "fmnist" => "fashion_mnist",
            "synthetic" => "synthetic",
            var other => throw new ProtocolException($"{Key("dataset")}: unknown dataset \"{other}\" (built-in: fashion_mnist, synthetic; set command: to train on anything else)"),
        };
        var optimizer = Get("trainer", JsonValues.GetString, trainer);
        if (optimizer is not ("sgd" or "adam" or "adamw"))
            throw new ProtocolException($"{Key("trainer")}: unknown trainer \"{optimizer}\" (built-in: sgd, adam, adamw)");
        var metrics = cfg["batch_metrics"] switch
        {
            null => [],
            JsonArray a => a.Select((x, i) => JsonValues.GetString(x, $"{Key("batch_metrics")}[{i}]")).ToArray(),
            var other => throw new ProtocolException($"{Key("batch_metrics")}: expected a list, got {JsonValues.Show(other)}"),
        };
        foreach (var name in metrics)
        {
            if (Array.IndexOf(ExtraMetrics, name) < 0 && Array.IndexOf(Columns, name) < 0)
                throw new ProtocolException($"{Key("batch_metrics")}: unknown metric \"{name}\" (available: {string.Join(", ", ExtraMetrics)})");
        }
        return new TrainerSettings
        {
            Dataset = data,
            Model = modelType,
            Hidden = hidden,
            Channels = channels,
            Optimizer = optimizer,
            Lr = Get("lr", Positive, 1e-3),
            WeightDecay = Get("weight_decay", NonNegative, 0.0),
            Momentum = Get("momentum", NonNegative, 0.0),
            Nesterov = Get("nesterov", JsonValues.GetBool, false),
            Schedule = cfg["schedule"] is { } sched ? LrSchedule.FromJson(sched, Key("schedule")) : null,
            Epochs = Get("epochs", Count, 1),
            BatchSize = Get("batch_size", Count, 128),
            Seed = Get("seed", JsonValues.GetLong, 0L),
            MaxSteps = cfg["max_steps"] is { } ms ? Count(ms, Key("max_steps")) : null,
            CheckpointEvery = Get("checkpoint_every", Count, 0),
            BatchMetrics = metrics.Where(n => Array.IndexOf(Columns, n) < 0).ToArray(),
            DataDir = Get<string?>("data_dir", JsonValues.GetString, null),
        };
    }

    public static (Dataset Train, Dataset Test) Data(TrainerSettings s)
    {
        if (s.Dataset == "fashion_mnist") return FashionMnist.Load(s.DataDir);
        var all = Synthetic.Blobs(12000, 10, [1, 28, 28], s.Seed, spread: 4f, name: "synthetic");
        return (all.Subset(Enumerable.Range(0, 10000).ToArray(), "synthetic-train"), all.Subset(Enumerable.Range(10000, 2000).ToArray(), "synthetic-test"));
    }

    public static Module Model(TrainerSettings s, Dataset train)
    {
        var rng = Rng.For(s.Seed, "model");
        if (s.Model == "mlp")
        {
            var layers = new List<Module> { new Flatten() };
            var width = train.FeatureSize;
            foreach (var h in s.Hidden)
            {
                layers.Add(new Linear(width, h, rng));
                layers.Add(new ReLU());
                width = h;
            }
            layers.Add(new Linear(width, train.Classes, rng));
            return new Sequential([.. layers]);
        }
        var (c1, c2) = (s.Channels[0], s.Channels[1]);
        var side = train.SampleShape[^1] / 4;
        return new Sequential(
            new Conv2d(train.SampleShape[0], c1, 3, rng, padding: 1), new ReLU(), new MaxPool2d(2),
            new Conv2d(c1, c2, 3, rng, padding: 1), new ReLU(), new MaxPool2d(2),
            new Flatten(), new Linear(c2 * side * side, s.Hidden[0], rng), new ReLU(), new Linear(s.Hidden[0], train.Classes, rng));
    }

    public static Optimizer Optimizer(TrainerSettings s, Module model)
    {
        var group = new ParamGroup("0", model.Parameters(), s.Lr, s.Schedule) { WeightDecay = s.WeightDecay, Momentum = s.Momentum, Nesterov = s.Nesterov };
        return s.Optimizer switch
        {
            "sgd" => new Sgd([group]),
            "adamw" => new Adam([group], decoupledWeightDecay: true),
            _ => new Adam([group]),
        };
    }

    /// <summary>Steps the trial takes: its epochs, or <c>max_steps</c> when that is smaller.</summary>
    public static long Steps(TrainerSettings s, Dataset train)
    {
        var perEpoch = (train.Count + s.BatchSize - 1) / s.BatchSize;
        var steps = (long)perEpoch * s.Epochs;
        return s.MaxSteps is { } cap ? Math.Min(cap, steps) : steps;
    }

    /// <summary>Trains and, when every step ran, writes <c>batch_log.csv</c>.</summary>
    public static void Train(TrainContext ctx, TrainerSettings s, Dataset train, Dataset test)
    {
        var model = Model(s, train);
        var optimizer = Optimizer(s, model);
        var loss = new LossDials([("cls", 1.0)]);
        ctx.Attach(model, optimizer, loss);
        var batcher = new Batcher(train, s.BatchSize, shuffle: true, s.Seed);
        var rows = new StringBuilder();
        rows.Append(string.Join(',', Columns.Concat(s.BatchMetrics))).Append('\n');
        var clock = Stopwatch.StartNew();
        // A resumed trial's time column goes on from where the checkpoint left it.
        var resumedAfter = TimeSpan.Zero;
        var stepStart = clock.Elapsed;
        var lastEpoch = -1;
        var batchIndex = 0;
        var currentLr = s.Lr;

        var end = TrainingLoop.Run(ctx, batcher, optimizer, 0, ctx.MaxSteps,
            step: (batch, step) =>
            {
                stepStart = clock.Elapsed;
                using var tape = new Tape();
                var logits = model.Forward(batch.X);
                var ce = Ops.SoftmaxCrossEntropy(logits, batch.Labels);
                var w = loss.Effective("cls", step);
                if (w != 0) tape.Backward(w == 1 ? ce : Ops.Scale(ce, (float)w));
                return new StepOutcome(ce.Item(), (double)TrainingLoop.CountCorrect(logits, batch.Labels) / batch.Size, []);
            },
            evaluate: step =>
            {
                var (l, a) = EvaluateRows(model, test, s.BatchSize, lastEpoch, currentLr, (resumedAfter + clock.Elapsed).TotalSeconds, s.BatchMetrics.Length, rows);
                return [("val_loss", l), ("val_accuracy", a)];
            },
            evalEvery: batcher.BatchesPerEpoch,
            state: new TrainingState(model, optimizer, batcher, loss)
            {
                // The batch log is written when the trial ends: the rows so far travel with the checkpoint.
                SaveTrainer = () => new JsonObject
                {
                    ["rows"] = rows.ToString(), ["last_epoch"] = lastEpoch, ["batch_index"] = batchIndex, ["lr"] = currentLr,
                    ["elapsed"] = (resumedAfter + clock.Elapsed).TotalSeconds,
                },
                RestoreTrainer = o =>
                {
                    rows.Clear().Append(JsonValues.GetString(o["rows"], "trainer.rows"));
                    lastEpoch = checked((int)JsonValues.GetLong(o["last_epoch"], "trainer.last_epoch"));
                    batchIndex = checked((int)JsonValues.GetLong(o["batch_index"], "trainer.batch_index"));
                    currentLr = JsonValues.GetDouble(o["lr"], "trainer.lr");
                    resumedAfter = TimeSpan.FromSeconds(JsonValues.GetDouble(o["elapsed"], "trainer.elapsed"));
                },
            },
            afterStep: r =>
            {
                if (r.Epoch != lastEpoch) (lastEpoch, batchIndex) = (r.Epoch, 0);
                currentLr = r.Lr;
                rows.Append(r.Epoch).Append(",train,").Append(batchIndex++).Append(',')
                    .Append(Num(r.Outcome.Loss)).Append(',').Append(Num(r.Outcome.Accuracy)).Append(',')
                    .Append(Num(r.Lr)).Append(',').Append(Num(r.GradNorm)).Append(',').Append(Num((resumedAfter + clock.Elapsed).TotalSeconds));
                foreach (var name in s.BatchMetrics) rows.Append(',').Append(Num(Extra(name, model, clock.Elapsed - stepStart)));
                rows.Append('\n');
            });
        if (ctx.Stop.IsCancellationRequested && end < ctx.MaxSteps) return;
        AtomicFile.WriteAllText(Path.Combine(ctx.RunDir, TrialPaths.BatchLog), rows.ToString());
        Kiln.Train.Serialization.Safetensors.Save(Path.Combine(ctx.RunDir, "model.safetensors"), model.StateDict());
    }

    private static (double Loss, double Accuracy) EvaluateRows(Module model, Dataset test, int batchSize, int epoch, double lr, double time, int extras, StringBuilder rows)
    {
        model.SetTraining(false);
        try
        {
            var batcher = new Batcher(test, batchSize, shuffle: false, seed: 0);
            double total = 0;
            long correct = 0;
            var index = 0;
            while (batcher.Next(out var batch))
            {
                using var tape = new Tape(recordGradients: false);
                var logits = model.Forward(batch!.X);
                var l = Ops.SoftmaxCrossEntropy(logits, batch.Labels).Item();
                var c = TrainingLoop.CountCorrect(logits, batch.Labels);
                total += l * batch.Size;
                correct += c;
                rows.Append(epoch).Append(",val,").Append(index++).Append(',').Append(Num(l)).Append(',')
                    .Append(Num((double)c / batch.Size)).Append(',').Append(Num(lr)).Append(",,").Append(Num(time));
                for (var i = 0; i < extras; i++) rows.Append(',');
                rows.Append('\n');
            }
            return (total / test.Count, (double)correct / test.Count);
        }
        finally
        {
            model.SetTraining(true);
        }
    }

    private static double Extra(string name, Module model, TimeSpan step) => name switch
    {
        "param_norm" => Math.Sqrt(model.Parameters().Sum(p => (double)TensorPrimitives.SumOfSquares(p.Span))),
        "grad_max" => model.Parameters().Where(p => p.Grad is not null).Select(p => (double)TensorPrimitives.MaxMagnitude(p.Grad!.Span)).DefaultIfEmpty(0).Max(),
        "step_ms" => step.TotalMilliseconds,
        _ => double.NaN,
    };

    private static string Num(double v) => double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "nan";
}
