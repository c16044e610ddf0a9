using Kiln.Train.Autograd;
using Kiln.Train.Tensors;

namespace Kiln.Train.Nn;

/// <summary><c>y = x · Wᵀ + b</c>; weight [out, in], PyTorch's initialisation.</summary>
public sealed class Linear : Module
{
    public Linear(int inFeatures, int outFeatures, Rng rng, bool bias = true)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        var bound = DefaultBound(inFeatures);
        Weight = Parameter("weight", new Tensor([outFeatures, inFeatures]));
        rng.FillUniform(Weight.Span, -bound, bound);
        if (bias)
        {
            Bias = Parameter("bias", new Tensor([outFeatures]));
            rng.FillUniform(Bias.Span, -bound, bound);
        }
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor x) => Ops.Linear(x, Weight, Bias);
}

/// <summary>2-D convolution; weight [out, in, k, k], PyTorch's initialisation.</summary>
public sealed class Conv2d : Module
{
    public Conv2d(int inChannels, int outChannels, int kernel, Rng rng, int stride = 1, int padding = 0, bool bias = true)
    {
        Stride = stride;
        Padding = padding;
        var bound = DefaultBound(inChannels * kernel * kernel);
        Weight = Parameter("weight", new Tensor([outChannels, inChannels, kernel, kernel]));
        rng.FillUniform(Weight.Span, -bound, bound);
        if (bias)
        {
            Bias = Parameter("bias", new Tensor([outChannels]));
            rng.FillUniform(Bias.Span, -bound, bound);
        }
    }

    public int Stride { get; }
    public int Padding { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor x) => Ops.Conv2d(x, Weight, Bias, Stride, Padding);

    /// <summary>This convolution followed by a ReLU, fused (<see cref="Sequential"/> uses it for that pair of layers).</summary>
    public Tensor ForwardRelu(Tensor x) => Ops.Conv2dRelu(x, Weight, Bias, Stride, Padding);

    /// <summary>This convolution, a ReLU and a max-pool with non-overlapping windows, fused (<see cref="Sequential"/> uses it for that run of layers).</summary>
    public Tensor ForwardReluMaxPool(Tensor x, int pool) => Ops.Conv2dReluMaxPool(x, Weight, Bias, pool, Stride, Padding);
}

/// <summary>Max over kernel×kernel windows, <see cref="Stride"/> apart (by default the kernel size: windows do not overlap).</summary>
public sealed class MaxPool2d(int kernel, int? stride = null) : Module
{
    public int Kernel { get; } = kernel;
    public int Stride { get; } = stride ?? kernel;

    public override Tensor Forward(Tensor x) => Ops.MaxPool2d(x, Kernel, Stride);
}

/// <summary>Layer normalization over the last dimension, with a learned scale (1) and shift (0).</summary>
public sealed class LayerNorm : Module
{
    private readonly float _eps;

    public LayerNorm(int features, float eps = 1e-5f)
    {
        _eps = eps;
        Weight = Parameter("weight", new Tensor([features]));
        Weight.Span.Fill(1f);
        Bias = Parameter("bias", new Tensor([features]));
    }

    public Tensor Weight { get; }
    public Tensor Bias { get; }

    public override Tensor Forward(Tensor x) => Ops.LayerNorm(x, Weight, Bias, _eps);
}

public sealed class ReLU : Module
{
    public override Tensor Forward(Tensor x) => Ops.Relu(x);
}

public sealed class GELU : Module
{
    public override Tensor Forward(Tensor x) => Ops.Gelu(x);
}

public sealed class Tanh : Module
{
    public override Tensor Forward(Tensor x) => Ops.Tanh(x);
}

public sealed class Sigmoid : Module
{
    public override Tensor Forward(Tensor x) => Ops.Sigmoid(x);
}

public sealed class Flatten : Module
{
    public override Tensor Forward(Tensor x) => Ops.Flatten(x);
}

/// <summary>Zeroes values with probability <c>p</c> while training; its mask comes from the run's seeded generator.</summary>
public sealed class Dropout(float p, Rng rng) : Module
{
    public float P { get; } = p;

    public override Tensor Forward(Tensor x) => Ops.Dropout(x, P, rng, Training);
}

/// <summary>Modules applied in order; children are named 0, 1, 2, … as in PyTorch.</summary>
public sealed class Sequential : Module
{
    private readonly Module[] _layers;

    public Sequential(params Module[] layers)
    {
        _layers = layers;
        for (var i = 0; i < layers.Length; i++) Child(i.ToString(System.Globalization.CultureInfo.InvariantCulture), layers[i]);
    }

    public IReadOnlyList<Module> Layers => _layers;

    /// <summary>Sees each layer's output while set (on this thread): how activation statistics are gathered.</summary>
    [ThreadStatic] internal static Action<Module, Tensor>? Observer;

    public override Tensor Forward(Tensor x)
    {
        var observer = Observer;
        for (var i = 0; i < _layers.Length; i++)
        {
            var layer = _layers[i];
            // A convolution and the ReLU after it run as one step (the same values, far less memory traffic), unless
            // someone watches each layer's output.
            if (observer is null && layer is Conv2d conv && i + 1 < _layers.Length && _layers[i + 1] is ReLU)
            {
                // And a max-pool after them, when its windows do not overlap, pools each part of the batch while its
                // convolution output is still in cache, so that output never reaches memory.
                if (i + 2 < _layers.Length && _layers[i + 2] is MaxPool2d { } pool && pool.Stride == pool.Kernel)
                {
                    x = conv.ForwardReluMaxPool(x, pool.Kernel);
                    i += 2;
                    continue;
                }
                x = conv.ForwardRelu(x);
                i++;
                continue;
            }
            x = layer.Forward(x);
            observer?.Invoke(layer, x);
        }
        return x;
    }
}
