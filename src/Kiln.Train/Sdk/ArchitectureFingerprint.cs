using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Kiln.Train.Autograd;
using Kiln.Train.Nn;
using Kiln.Train.Tensors;

namespace Kiln.Train.Sdk;

/// <summary>
/// Names an architecture: SHA-256 over a canonical description of the module tree — each module's path and type
/// name, its structural settings, each parameter's name and shape, in the order the model registers them. Weights,
/// seeds and hyper-parameters leave it unchanged; a layer of another type, size or place changes it.
/// </summary>
/// <remarks>
/// The description (<see cref="Describe"/>) is a header line <c>kiln-architecture/1</c>, then one line per module,
/// setting and parameter, each a tag and fields written as <c>&lt;UTF-8 byte count&gt;:&lt;bytes&gt;</c> so no name can
/// be mistaken for a delimiter: <c>6:module5:trunk10:Sequential</c>, <c>9:attribute6:stride1:2</c>,
/// <c>5:param6:weight4:16,4</c>. Type names are the short names (no namespace). A dummy input's output shape goes to
/// <c>kiln.model.json</c> and the summary but not into the fingerprint, so a trial that calls
/// <c>Model(net)</c> finds the weights of a training that called <c>Model(net, dummy)</c>.
/// </remarks>
public static class ArchitectureFingerprint
{
    public const string Prefix = "sha256:";
    private const string Header = "kiln-architecture/1";

    /// <summary>The fingerprint, summary and module tree of <paramref name="model"/>.</summary>
    /// <param name="dummyInput">When given, run once through the model (no gradients, evaluation mode, which is then
    /// restored) to check it runs and to record its output shape.</param>
    /// <exception cref="ArgumentException">The model cannot run the dummy input; the message says why.</exception>
    public static ArchitectureInfo Of(Module model, Tensor? dummyInput = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var modules = Modules(model);
        var outputShape = dummyInput is null ? null : OutputShape(model, dummyInput);
        var fingerprint = Hash(Describe(modules));
        var count = model.ParameterCount;
        var inputShape = dummyInput?.Shape.ToArray();
        return new ArchitectureInfo(fingerprint, ArchitectureSummary.Render(fingerprint, modules, count, inputShape, outputShape),
            modules, count, inputShape, outputShape);
    }

    /// <summary>The canonical description the fingerprint hashes, for reading and for other implementations to compare with.</summary>
    public static string Describe(Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Describe(Modules(model));
    }

    /// <summary>The module tree in the model's own order, each parameter under the module that registered it.</summary>
    public static IReadOnlyList<ModuleEntry> Modules(Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var named = model.NamedModules().ToList();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < named.Count; i++) index.TryAdd(named[i].Name, i);
        var parameters = named.Select(_ => new List<ParameterEntry>()).ToArray();
        foreach (var (name, tensor) in model.NamedParameters())
        {
            var (owner, local) = Owner(name, index);
            parameters[owner].Add(new ParameterEntry(local, tensor.Shape.ToArray()));
        }
        return named.Select((m, i) => new ModuleEntry(m.Name, TypeName(m.Value.GetType()), Attributes(m.Value), parameters[i])).ToList();
    }

    private static string Describe(IReadOnlyList<ModuleEntry> modules)
    {
        var sb = new StringBuilder(Header).Append('\n');
        foreach (var m in modules)
        {
            Record(sb, "module", m.Path, m.Type);
            foreach (var (name, value) in m.Attributes) Record(sb, "attribute", name, value.ToString(CultureInfo.InvariantCulture));
            foreach (var p in m.Parameters) Record(sb, "param", p.Name, string.Join(',', p.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture))));
        }
        return sb.ToString();
    }

    private static void Record(StringBuilder sb, string tag, params string[] fields)
    {
        Field(sb, tag);
        foreach (var f in fields) Field(sb, f);
        sb.Append('\n');
    }

    private static void Field(StringBuilder sb, string text) =>
        sb.Append(Encoding.UTF8.GetByteCount(text).ToString(CultureInfo.InvariantCulture)).Append(':').Append(text);

    private static string Hash(string description) =>
        Prefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(description)));

    /// <summary>The deepest module whose path prefixes the parameter's dotted name registered it.</summary>
    private static (int Owner, string Local) Owner(string name, Dictionary<string, int> index)
    {
        for (var dot = name.LastIndexOf('.'); dot > 0; dot = name.LastIndexOf('.', dot - 1))
        {
            if (index.TryGetValue(name[..dot], out var owner)) return (owner, name[(dot + 1)..]);
        }
        return (0, name);
    }

    private static string TypeName(Type type) => type.Name;

    /// <summary>Settings that shape the computation without showing in any parameter's shape.</summary>
    private static IReadOnlyList<KeyValuePair<string, long>> Attributes(Module module) => module switch
    {
        Conv2d c => [new("stride", c.Stride), new("padding", c.Padding)],
        // As the Python client names a torch pooling layer's window, so the same architecture hashes alike in both.
        MaxPool2d p => [new("kernel_size", p.Kernel), new("stride", p.Stride), new("padding", 0)],
        _ => [],
    };

    private static int[] OutputShape(Module model, Tensor dummy)
    {
        var modules = model.NamedModules().Select(m => m.Value).ToList();
        var training = modules.Select(m => m.Training).ToArray();
        // Evaluation mode: a dropout layer in training mode would draw from the run's generator and shift the training that follows.
        model.SetTraining(false);
        try
        {
            using var tape = new Tape(recordGradients: false);
            return model.Forward(dummy).Shape.ToArray();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            throw new ArgumentException($"the model cannot run the dummy input {Tensor.ShapeText(dummy.Shape)}: {ex.Message}", nameof(dummy), ex);
        }
        finally
        {
            // Parents first: each SetTraining also sets the module's children, which their own turn then corrects.
            for (var i = 0; i < modules.Count; i++) modules[i].SetTraining(training[i]);
        }
    }
}
