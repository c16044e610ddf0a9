using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.Modules;
using Kiln.Modules.Loss;
using Kiln.Protocol;
using Kiln.Train.Data;
using Kiln.Train.Nn;
using Kiln.Train.Optim;
using Kiln.Train.Serialization;
using Kiln.Train.Tensors;

namespace Kiln.Train.Runs.Checkpoints;

/// <summary>
/// Everything a built-in run's next step depends on: the weights, the optimizer (buffers, counters, dials), the loss
/// dials, the data order and position, and the random generators (dropout's, say). Saved into a run's checkpoint and
/// restored from it, so the steps after a resume are the steps the run would have taken, bit for bit.
/// </summary>
/// <param name="rngs">Generators the steps draw from, by name (the batcher's own is part of the data order).</param>
/// <remarks>
/// It is also the run's <see cref="IRunState"/>: <c>tune</c> captures the weights, the optimizer and the loss dials in
/// memory before a mutation and restores them when the mutation did not pay (the data position and the generators go on).
/// </remarks>
public sealed class TrainingState(Module model, Optimizer optimizer, Batcher batcher, LossDials? loss = null, IReadOnlyDictionary<string, Rng>? rngs = null) : IRunState
{
    private sealed record Snapshot(Dictionary<string, Tensor> Model, Dictionary<string, Tensor> Buffers, JsonObject Optimizer, JsonObject? Loss);

    public object Capture()
    {
        var buffers = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var opt = optimizer.SaveState(buffers);
        return new Snapshot(model.StateDict(), buffers, opt, loss?.SaveState());
    }

    public void Restore(object snapshot)
    {
        if (snapshot is not Snapshot s) throw new ArgumentException("not a snapshot this run's state took", nameof(snapshot));
        model.LoadStateDict(s.Model);
        optimizer.RestoreState(s.Optimizer, s.Buffers, "snapshot.optimizer");
        if (loss is not null && s.Loss is not null) loss.RestoreState(s.Loss, "snapshot.loss");
    }

    private const string ModelPrefix = "model.";

    /// <summary>What the trainer keeps besides (a log it writes at the end, say), saved under <c>state.trainer</c>.</summary>
    public Func<JsonObject>? SaveTrainer { get; init; }

    /// <summary>Puts back what <see cref="SaveTrainer"/> saved.</summary>
    public Action<JsonObject>? RestoreTrainer { get; init; }

    /// <summary>Writes a checkpoint at <paramref name="step"/> (the next step to train) into the run's directory.</summary>
    public RunCheckpoint Save(TrainContext ctx, long step)
    {
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in model.StateDict()) tensors[ModelPrefix + name] = t;
        var state = new JsonObject
        {
            ["optimizer"] = optimizer.SaveState(tensors),
            ["loss"] = loss?.SaveState(),
            ["batcher"] = Json(batcher.State),
            ["rngs"] = new JsonObject((rngs ?? new Dictionary<string, Rng>()).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)Json(kv.Value.State)))),
            ["trainer"] = SaveTrainer?.Invoke(),
        };
        return ctx.SaveCheckpoint(step, batcher.Epoch, Safetensors.Serialize(tensors), state);
    }

    /// <summary>Puts the run back where <paramref name="checkpoint"/> left it.</summary>
    public void Restore(TrainContext ctx, RunCheckpoint checkpoint)
    {
        var where = $"{RunFiles.Checkpoint}/{RunCheckpoint.ManifestFile}: state";
        Rollback(ctx, checkpoint);
        var s = checkpoint.State;
        batcher.Restore(Batcher(JsonValues.GetObject(s["batcher"], where + ".batcher"), where + ".batcher"));
        var saved = JsonValues.GetObject(s["rngs"], where + ".rngs");
        foreach (var (name, rng) in rngs ?? new Dictionary<string, Rng>())
            rng.Restore(Rng(JsonValues.GetObject(saved[name], $"{where}.rngs.{name}"), $"{where}.rngs.{name}"));
        RestoreTrainer?.Invoke(JsonValues.GetObject(s["trainer"], where + ".trainer"));
    }

    /// <summary>
    /// Rolls the model back to <paramref name="checkpoint"/>: the weights, the optimizer (buffers, counters, dials) and
    /// the loss dials; the data order and the generators go on (<c>core restore_checkpoint</c>: the run continues at its
    /// step from an earlier, healthy state).
    /// </summary>
    public void Rollback(TrainContext ctx, RunCheckpoint checkpoint)
    {
        var where = $"{RunFiles.Checkpoint}/{RunCheckpoint.ManifestFile}: state";
        var (tensors, _) = Safetensors.Deserialize(checkpoint.ReadTensors(ctx.RunDir), $"{RunFiles.Checkpoint}/{checkpoint.Tensors}");
        model.LoadStateDict(tensors.Where(kv => kv.Key.StartsWith(ModelPrefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[ModelPrefix.Length..], kv => kv.Value, StringComparer.Ordinal));
        var s = checkpoint.State;
        optimizer.RestoreState(JsonValues.GetObject(s["optimizer"], where + ".optimizer"), tensors, where + ".optimizer");
        if (loss is not null) loss.RestoreState(JsonValues.GetObject(s["loss"], where + ".loss"), where + ".loss");
    }

    // A generator's words are written as hex strings: a JSON reader that keeps numbers as doubles would round them.
    private static JsonObject Json(RngState s) => new()
    {
        ["s"] = new JsonArray(Hex(s.S0), Hex(s.S1), Hex(s.S2), Hex(s.S3)),
        ["spare"] = s.Spare,
    };

    private static JsonObject Json(BatcherState b) => new()
    {
        ["epoch"] = b.Epoch, ["next_epoch"] = b.NextEpoch, ["cursor"] = b.Cursor, ["in_epoch"] = b.InEpoch, ["rng"] = Json(b.Rng),
    };

    private static RngState Rng(JsonObject o, string where)
    {
        if (o["s"] is not JsonArray { Count: 4 } s) throw new ProtocolException($"{where}.s: expected four hex words");
        ulong Word(int i)
        {
            var text = JsonValues.GetString(s[i], $"{where}.s[{i}]");
            return ulong.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var w) ? w
                : throw new ProtocolException($"{where}.s[{i}]: not a hex word: {text}");
        }
        return new RngState(Word(0), Word(1), Word(2), Word(3), o["spare"] is { } sp ? JsonValues.GetDouble(sp, where + ".spare") : null);
    }

    private static BatcherState Batcher(JsonObject o, string where) => new(
        checked((int)JsonValues.GetLong(o["epoch"], where + ".epoch")), checked((int)JsonValues.GetLong(o["next_epoch"], where + ".next_epoch")),
        checked((int)JsonValues.GetLong(o["cursor"], where + ".cursor")), JsonValues.GetBool(o["in_epoch"], where + ".in_epoch"),
        Rng(JsonValues.GetObject(o["rng"], where + ".rng"), where + ".rng"));

    private static string Hex(ulong w) => w.ToString("x16", CultureInfo.InvariantCulture);
}
