using Kiln.Train.Tensors;

namespace Kiln.Train.Data;

/// <summary>
/// Generated datasets for tests, demos and benchmarks that need no files. Every random draw comes from
/// <see cref="Rng.For"/> with a fixed label per purpose, so the same arguments give the same bytes on any machine.
/// </summary>
public static class Synthetic
{
    /// <summary>
    /// Gaussian blobs: each class has a prototype with entries uniform in [0, 1], and each sample is its class's
    /// prototype plus N(0, (0.25·<paramref name="spread"/>)²) noise per entry, clipped to [0, 1] like pixels.
    /// Classes are balanced (they differ in size by at most one) and appear in shuffled order.
    /// </summary>
    /// <remarks>
    /// How much the classes overlap depends on the sample size as well as the spread: prototypes are on average
    /// √(d/6) apart in d dimensions, against noise of 0.25·spread per entry. At spread 1, a handful of features
    /// leaves the classes overlapping; hundreds of features make them far apart.
    /// </remarks>
    public static Dataset Blobs(int count, int classes, int[] sampleShape, long seed, float spread = 1f, string name = "blobs")
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classes);
        ArgumentNullException.ThrowIfNull(sampleShape);
        if (!float.IsFinite(spread) || spread < 0) throw new ArgumentOutOfRangeException(nameof(spread), spread, "spread must be finite and not negative");
        if (sampleShape.Length == 0 || sampleShape.Any(d => d <= 0))
            throw new ArgumentException($"sample shape {Tensor.ShapeText(sampleShape)} needs at least one dimension, all positive", nameof(sampleShape));
        var size = Tensor.SizeOf(sampleShape);

        var prototypes = new float[checked(classes * size)];
        Rng.For(seed, "blobs.prototypes").FillUniform(prototypes, 0f, 1f);

        var labels = new int[count];
        for (var i = 0; i < count; i++) labels[i] = i % classes;
        Rng.For(seed, "blobs.order").Shuffle(labels.AsSpan());

        var features = new float[checked(count * size)];
        var noise = Rng.For(seed, "blobs.noise");
        var sigma = 0.25 * spread;
        for (var i = 0; i < count; i++)
        {
            var prototype = prototypes.AsSpan(labels[i] * size, size);
            var row = features.AsSpan(i * size, size);
            for (var j = 0; j < size; j++) row[j] = Math.Clamp((float)(prototype[j] + sigma * noise.Normal()), 0f, 1f);
        }
        return new Dataset(name, features, sampleShape, labels, classes);
    }

    /// <summary>
    /// A linear regression problem named <c>regression</c>: x ~ N(0, 1) with <paramref name="inputs"/> entries,
    /// targets y = x·W + b + <paramref name="noise"/>·N(0, 1) with <paramref name="outputs"/> entries. W (entries
    /// N(0, 1/inputs), so y has about unit variance whatever the width) and b (entries N(0, 1)) are fixed by the seed.
    /// The dataset has no labels.
    /// </summary>
    public static Dataset Regression(int count, int inputs, int outputs, long seed, float noise = 0.1f)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputs);
        if (!float.IsFinite(noise) || noise < 0) throw new ArgumentOutOfRangeException(nameof(noise), noise, "noise must be finite and not negative");

        var parameters = Rng.For(seed, "regression.weights");
        var weights = new double[checked(inputs * outputs)];
        var scale = 1.0 / Math.Sqrt(inputs);
        for (var i = 0; i < weights.Length; i++) weights[i] = scale * parameters.Normal();
        var bias = new double[outputs];
        for (var o = 0; o < outputs; o++) bias[o] = parameters.Normal();

        var x = new float[checked(count * inputs)];
        var inputRng = Rng.For(seed, "regression.inputs");
        for (var i = 0; i < x.Length; i++) x[i] = (float)inputRng.Normal();

        var y = new float[checked(count * outputs)];
        var noiseRng = Rng.For(seed, "regression.noise");
        for (var n = 0; n < count; n++)
        {
            var row = x.AsSpan(n * inputs, inputs);
            for (var o = 0; o < outputs; o++)
            {
                // Accumulated in a fixed order in double, so the targets do not depend on the machine's vector width.
                var sum = bias[o];
                for (var j = 0; j < inputs; j++) sum += row[j] * weights[j * outputs + o];
                y[n * outputs + o] = (float)(sum + noise * noiseRng.Normal());
            }
        }
        return new Dataset("regression", x, [inputs], [], 0, y, outputs);
    }
}
