using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.Kernel;
using Kiln.Modules;
using Kiln.Modules.Loss;
using Kiln.Modules.Opt;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>
/// The conformance vectors of <c>tests/conformance</c> (files in, safe points; ledger, dials and files out), which the
/// Python kernel (<c>clients/python</c>) runs too: the two kernels cannot drift apart.
/// </summary>
public sealed class ConformanceTests
{
    private static string Folder()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Kiln.slnx"))) dir = dir.Parent;
        return Path.Combine(dir?.FullName ?? throw new InvalidOperationException("the repository root (Kiln.slnx) is not above the test binaries"), "tests", "conformance");
    }

    public static TheoryData<string> Vectors()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Folder(), "*.json").Order(StringComparer.Ordinal)) data.Add(Path.GetFileNameWithoutExtension(f));
        return data;
    }

    [Fact]
    public void The_suite_has_vectors() => Assert.True(Vectors().Count >= 10, "tests/conformance holds the shared vectors");

    [Theory]
    [MemberData(nameof(Vectors))]
    public void The_kernel_meets_the_vector(string name)
    {
        var path = Path.Combine(Folder(), name + ".json");
        var vector = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        var observed = Run(vector);
        if (vector["expect"] is null || Environment.GetEnvironmentVariable("KILN_CONFORMANCE_RECORD") == "1")
        {
            vector["expect"] = observed;
            File.WriteAllText(path, vector.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
            Assert.Fail($"{name}: recorded its expectations from the C# kernel; review them and run again");
        }
        var problems = new List<string>();
        VectorMatch.Compare(vector["expect"], observed, "expect", problems);
        Assert.True(problems.Count == 0, $"{name}:\n" + string.Join("\n", problems));
    }

    private static JsonObject Run(JsonObject vector)
    {
        using var dir = new TempDir("conformance");
        foreach (var (file, text) in vector["files"]!.AsObject()) File.WriteAllBytes(dir.File(file), Encoding.UTF8.GetBytes(text!.GetValue<string>()));
        var kernel = new KilnKernel(dir.Path, new KernelOptions { PollInterval = TimeSpan.Zero, Warn = _ => { } });
        foreach (var (id, o) in vector["optimizers"]!.AsObject())
        {
            var groups = o!["groups"]!.AsArray().Select(g => (g![0]!.GetValue<string>(), g[1]!.GetValue<double>(), (LrSchedule?)null));
            var supports = o["supports"] is JsonArray s ? s.Select(k => Key(k!.GetValue<string>())).ToArray() : null;
            kernel.AddOptimizer(new OptimizerDials(o["kind"]!.GetValue<string>(), groups, supports), id);
        }
        foreach (var (id, terms) in vector["losses"]!.AsObject())
            kernel.AddLoss(new LossDials(terms!.AsObject().Select(t => (t.Key, t.Value!.GetValue<double>()))), id);
        var env = new KernelEnv { MaxSteps = vector["max_steps"]?.GetValue<long>() };
        string? raised = null;
        try
        {
            foreach (var step in vector["steps"]!.AsArray())
            {
                Prepare(dir, step!.AsObject());
                kernel.Apply(step["step"]!.GetValue<long>(), step["event"]!.GetValue<string>(), env);
            }
            if (vector["end"] is JsonObject end) kernel.End(end["step"]!.GetValue<long>(), env);
        }
        catch (ReplayMissedException ex)
        {
            raised = ex.Message;
        }
        finally
        {
            kernel.Dispose();
        }
        var ledger = new JsonArray();
        foreach (var line in File.ReadAllLines(dir.File(RunFiles.Ledger)))
        {
            var o = JsonNode.Parse(line)!.AsObject();
            o.Remove("wall_time");
            if (o.Remove("traceback")) o["has_traceback"] = true;
            ledger.Add(o);
        }
        var actuators = File.Exists(dir.File(RunFiles.Actuators)) ? JsonNode.Parse(File.ReadAllText(dir.File(RunFiles.Actuators)))!["actuators"]!.DeepClone() : null;
        var freeze = File.Exists(dir.File(RunFiles.Freeze)) ? JsonNode.Parse(File.ReadAllText(dir.File(RunFiles.Freeze))) : null;
        return new JsonObject { ["ledger"] = ledger, ["actuators"] = actuators, ["freeze"] = freeze, ["raises"] = raised };
    }

    private static void Prepare(TempDir dir, JsonObject step)
    {
        var inbox = dir.File(RunFiles.Commands);
        if (step["append"] is JsonArray lines)
            File.AppendAllText(inbox, string.Concat(lines.Select(l => l!.GetValue<string>() + "\n")));
        if (step["torn"] is { } torn) File.AppendAllText(inbox, torn.GetValue<string>());
        if (step["finish"] is { } finish) File.AppendAllText(inbox, finish.GetValue<string>() + "\n");
        if (step["write"] is JsonObject files)
            foreach (var (file, text) in files) File.WriteAllText(dir.File(file), text!.GetValue<string>());
    }

    private static OptimizerKey Key(string name) => name switch
    {
        "weight_decay" => OptimizerKey.WeightDecay,
        "betas" or "beta1" => OptimizerKey.Beta1,
        "beta2" => OptimizerKey.Beta2,
        "eps" => OptimizerKey.Eps,
        "momentum" => OptimizerKey.Momentum,
        "clip_norm" => OptimizerKey.ClipNorm,
        "scheduler_scale" => OptimizerKey.SchedulerScale,
        "lr" => OptimizerKey.Lr,
        _ => throw new ArgumentException($"unknown optimizer key {name}"),
    };
}

/// <summary>The vectors' comparison: numbers by value, objects by keys, and an expected string ending in … as a prefix.</summary>
internal static class VectorMatch
{
    public static void Compare(JsonNode? expected, JsonNode? actual, string path, List<string> problems)
    {
        switch (expected)
        {
            case null:
                if (actual is not null) problems.Add($"{path}: expected null, got {actual.ToJsonString()}");
                return;
            case JsonObject e:
                if (actual is not JsonObject a) { problems.Add($"{path}: expected an object, got {actual?.ToJsonString() ?? "null"}"); return; }
                foreach (var key in e.Select(kv => kv.Key).Union(a.Select(kv => kv.Key)))
                {
                    if (!e.ContainsKey(key)) problems.Add($"{path}.{key}: not expected, got {a[key]?.ToJsonString() ?? "null"}");
                    else if (!a.ContainsKey(key)) problems.Add($"{path}.{key}: missing");
                    else Compare(e[key], a[key], $"{path}.{key}", problems);
                }
                return;
            case JsonArray e:
                if (actual is not JsonArray arr || arr.Count != e.Count) { problems.Add($"{path}: expected {e.ToJsonString()}, got {actual?.ToJsonString() ?? "null"}"); return; }
                for (var i = 0; i < e.Count; i++) Compare(e[i], arr[i], $"{path}[{i}]", problems);
                return;
            case JsonValue v when v.GetValueKind() == JsonValueKind.Number:
                if (actual is not JsonValue av || av.GetValueKind() != JsonValueKind.Number || v.GetValue<double>() != av.GetValue<double>())
                    problems.Add($"{path}: expected {v.ToJsonString()}, got {actual?.ToJsonString() ?? "null"}");
                return;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String && v.GetValue<string>().EndsWith('…'):
                var prefix = v.GetValue<string>()[..^1];
                if (actual is not JsonValue sv || sv.GetValueKind() != JsonValueKind.String || !sv.GetValue<string>().StartsWith(prefix, StringComparison.Ordinal))
                    problems.Add($"{path}: expected text starting {prefix}, got {actual?.ToJsonString() ?? "null"}");
                return;
            default:
                if (!JsonNode.DeepEquals(expected, actual)) problems.Add($"{path}: expected {expected.ToJsonString()}, got {actual?.ToJsonString() ?? "null"}");
                return;
        }
    }
}
