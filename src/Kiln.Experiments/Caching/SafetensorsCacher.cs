using Kiln.Train.Serialization;
using Kiln.Train.Tensors;

namespace Kiln.Experiments.Caching;

/// <summary>
/// Tensors in the safetensors format (PyTorch and Kiln.Train read it): a <see cref="Tensor"/> (stored under the name
/// <c>tensor</c>) or a dictionary of named tensors.
/// </summary>
public sealed class SafetensorsCacher : ByteCacher
{
    private const string Single = "tensor";

    public override string Extension => ".safetensors";

    protected override byte[] Encode(object? value, Type type) => value switch
    {
        Tensor t => Safetensors.Serialize(new Dictionary<string, Tensor> { [Single] = t }),
        IReadOnlyDictionary<string, Tensor> d => Safetensors.Serialize(d),
        IDictionary<string, Tensor> d => Safetensors.Serialize(d.ToDictionary()),
        _ => throw new NotSupportedException($"SafetensorsCacher stores a Tensor or a dictionary of them, not {value?.GetType().Name ?? "null"}"),
    };

    protected override object? Decode(byte[] bytes, Type type)
    {
        var (tensors, _) = Safetensors.Deserialize(bytes);
        return type == typeof(Tensor) ? tensors[Single] : tensors;
    }
}
