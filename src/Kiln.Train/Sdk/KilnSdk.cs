using System.Text.Json.Nodes;
using Kiln.Train.Nn;
using Kiln.Train.Tensors;

namespace Kiln.Train.Sdk;

/// <summary>
/// What a training program run by <c>kiln train</c>, <c>kiln trial</c> or <c>kiln queue run</c> calls to report its
/// model, hyper-parameters and results, through files in its run directory (docs/sdk.md, docs/protocol.md):
/// <code>
/// var net = BuildModel();
/// KilnSdk.Model(net, Tensor.Zeros(1, 8));           // kiln.model.json; weights saved when the program ends
/// var lr = KilnSdk.Queue("lr", 0.05);               // a queue run's injected value, else the fallback
/// KilnSdk.Param(new Dictionary&lt;string, object?&gt; { ["lr"] = lr, ["steps"] = 200 });
/// Train(net, lr);
/// </code>
/// Run by hand (no <c>KILN_RUN_DIR</c>), every call records nothing, says so once on stderr, and returns what
/// it would otherwise (the model's description, an empty queue). Values are checked in every mode, so a program
/// run by hand fails on a bad value the way it would under kiln.
/// </summary>
public static class KilnSdk
{
    private static readonly Lazy<SdkSession> Session = new(() =>
        new SdkSession(ChildEnvironment.FromProcess(), Console.Error, hookProcessExit: true));

    /// <summary>Why the program runs: <see cref="SdkMode.None"/> by hand, else what <c>KILN_MODE</c> says.</summary>
    public static SdkMode Mode => Session.Value.Mode;

    /// <summary>The run directory (<c>KILN_RUN_DIR</c>), or null when run by hand.</summary>
    public static string? RunDir => Session.Value.RunDir;

    /// <summary>The workspace root (<c>KILN_WORKSPACE</c>), or null.</summary>
    public static string? Workspace => Session.Value.Environment.Workspace;

    /// <summary>
    /// Describes the model and writes <c>kiln.model.json</c>. In a train or queue run its weights are then saved to
    /// <c>weights.safetensors</c> when the program ends with exit code 0; in a trial this waits for the parent to
    /// choose trained weights and loads them into the model (or, when the parent has none, exits with code 1).
    /// </summary>
    /// <param name="dummyInput">Run once through the model (no gradients, evaluation mode) to check that it runs and
    /// record its output shape.</param>
    /// <exception cref="ArgumentException">The model cannot run the dummy input.</exception>
    /// <exception cref="KilnSdkException">In a trial: the parent is gone, never chose (<c>KILN_CHOICE_TIMEOUT</c>), or
    /// chose weights that do not fit the model.</exception>
    public static ArchitectureInfo Model(Module model, Tensor? dummyInput = null) => Session.Value.Model(model, dummyInput);

    /// <summary>Merges hyper-parameters into <c>kiln.params.json</c>: numbers, strings, booleans, null, and arrays and
    /// dictionaries of them. In a queue run the injected values win (a different value here is warned about).</summary>
    /// <exception cref="ArgumentException">A value is NaN, infinite or of a type JSON cannot hold; the message names its key.</exception>
    public static void Param(IReadOnlyDictionary<string, object?> values)
    {
        var json = ParamValues.ToObject(values, "param");
        Session.Value.Param(json);
    }

    /// <inheritdoc cref="Param(IReadOnlyDictionary{string, object?})"/>
    public static void Param(JsonObject values)
    {
        var json = ParamValues.ToObject(values, "param");
        Session.Value.Param(json);
    }

    /// <summary>A queue run's injected hyper-parameters (<c>KILN_QUEUE</c>), recorded in <c>kiln.params.json</c> at once;
    /// an empty object in any other run.</summary>
    /// <exception cref="KilnSdkException"><c>KILN_QUEUE</c> is not a JSON object.</exception>
    public static JsonObject Queue() => Session.Value.Queue();

    /// <summary>The injected value of <paramref name="key"/> in a queue run, else <paramref name="fallback"/>.</summary>
    /// <exception cref="KilnSdkException">The injected value is not a <typeparamref name="T"/>.</exception>
    public static T Queue<T>(string key, T fallback) => Session.Value.Queue(key, fallback);

    /// <summary>A trial's result (accuracy, loss, …), merged into <c>kiln.result.json</c>; other runs record nothing.</summary>
    /// <exception cref="ArgumentException">A value is NaN, infinite or of a type JSON cannot hold.</exception>
    public static void TrialResult(IReadOnlyDictionary<string, object?> values)
    {
        var json = ParamValues.ToObject(values, "result");
        Session.Value.TrialResult(json);
    }

    /// <inheritdoc cref="TrialResult(IReadOnlyDictionary{string, object?})"/>
    public static void TrialResult(JsonObject values)
    {
        var json = ParamValues.ToObject(values, "result");
        Session.Value.TrialResult(json);
    }

    /// <summary>Saves the model's weights now (a train or queue run); they are saved again when the program ends.</summary>
    public static void SaveWeights() => Session.Value.SaveWeights();

    /// <summary>Saves the model's weights now and not again when the program ends.</summary>
    public static void End() => Session.Value.End();

}
