using System.Text.Json.Nodes;
using Kiln.Modules.Opt;
using Kiln.Train.Tensors;

namespace Kiln.Train.Optim;

/// <summary>
/// Stochastic gradient descent as PyTorch computes it: <c>d = g + wd·p</c>; with momentum
/// <c>buf = μ·buf + (1 − dampening)·d</c> (the first buffer is <c>d</c>), and <c>d = d + μ·buf</c> (Nesterov) or
/// <c>d = buf</c>; then <c>p −= lr·d</c>.
/// </summary>
public sealed class Sgd(IEnumerable<ParamGroup> groups) : Optimizer("sgd", groups, [OptimizerKey.Momentum])
{
    private readonly Dictionary<Tensor, float[]> _momentum = new(ReferenceEqualityComparer.Instance);

    protected override void Update(ParamGroup group, int index, Tensor parameter, float lr)
    {
        var p = parameter.Span;
        var g = parameter.Grad!.Span;
        var wd = (float)group.WeightDecay;
        var mu = (float)group.Momentum;
        Span<float> d = g;
        if (wd != 0f) TensorPrimitives.MultiplyAdd(p, wd, g, g);
        if (mu != 0f)
        {
            var fresh = !_momentum.ContainsKey(parameter);
            var buf = State(_momentum, parameter).AsSpan(0, parameter.Size);
            if (fresh) g.CopyTo(buf);
            else
            {
                TensorPrimitives.Multiply(buf, mu, buf);
                TensorPrimitives.MultiplyAdd(g, 1f - (float)group.Dampening, buf, buf);
            }
            if (group.Nesterov) TensorPrimitives.MultiplyAdd(buf, mu, g, g);
            else d = buf;
        }
        TensorPrimitives.MultiplyAdd(d, -lr, p, p);
    }

    // Whether a parameter has a buffer matters too: the first one is the gradient itself.
    protected override void SaveBuffers(IDictionary<string, Tensor> buffers, JsonObject state) => SaveMap(_momentum, "momentum", buffers);

    protected override void RestoreBuffers(IReadOnlyDictionary<string, Tensor> buffers, JsonObject state, string where) =>
        RestoreMap(_momentum, "momentum", buffers, where);
}
