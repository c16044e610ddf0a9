using Kiln.Train.Autograd;
using Kiln.Train.Data;
using Kiln.Train.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace Kiln.Train.Tests;

/// <summary>Datasets and synthetic data: consistency checks, subsets, blobs and regression targets.</summary>
public sealed class DatasetTests
{
    [Theory]
    [InlineData("features", "dataset d: 7 feature values are not a whole number of samples of [2] (2 values each)")]
    [InlineData("labels", "dataset d: 2 labels for 3 samples")]
    [InlineData("range", "dataset d: label 3 of sample 1 is outside [0, 3)")]
    [InlineData("classes", "dataset d: has labels but declares 0 classes")]
    [InlineData("targets", "dataset d: 5 target values for 3 samples of 2 targets each (expected 6)")]
    [InlineData("shape", "dataset d: sample shape [2, 0] needs at least one dimension, all positive")]
    public void A_dataset_checks_that_its_arrays_agree(string fault, string error)
    {
        var ex = Assert.ThrowsAny<ArgumentException>(() => fault switch
        {
            "features" => new Dataset("d", new float[7], [2], [], 0),
            "labels" => new Dataset("d", new float[6], [2], [0, 1], 3),
            "range" => new Dataset("d", new float[6], [2], [0, 3, 1], 3),
            "classes" => new Dataset("d", new float[6], [2], [0, 0, 0], 0),
            "targets" => new Dataset("d", new float[6], [2], [], 0, new float[5], 2),
            _ => new Dataset("d", new float[6], [2, 0], [], 0),
        });
        Assert.Contains(error, ex.Message);
    }

    [Fact]
    public void Subset_copies_the_chosen_rows_in_order()
    {
        var d = TestData.Numbered(5, targets: true);
        var s = d.Subset([4, 1, 1]);
        Assert.Equal("numbered[3]", s.Name);
        Assert.Equal(3, s.Count);
        Assert.Equal([8, 9, 2, 3, 2, 3], s.Features);
        Assert.Equal([1, 1, 1], s.Labels);
        Assert.Equal([-4, -1, -1], s.Targets!);
        Assert.Equal((3, 1), (s.Classes, s.TargetSize));

        s.Features[0] = 100;
        Assert.Equal(8, d.Features[8]);
        Assert.Equal("picked", d.Subset([0], "picked").Name);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => d.Subset([0, 5]));
        Assert.Contains("dataset numbered: index 5 at position 1 is outside [0, 5)", ex.Message);
    }

    [Fact]
    public void WhereLabel_keeps_matching_samples_and_the_class_count()
    {
        var d = TestData.Numbered(7);
        var odd = d.WhereLabel(l => l != 1, "no-ones");
        Assert.Equal("no-ones", odd.Name);
        Assert.Equal([0, 2, 0, 2, 0], odd.Labels);
        Assert.Equal([0, 1, 4, 5, 6, 7, 10, 11, 12, 13], odd.Features);
        Assert.Equal(3, odd.Classes);
        Assert.Equal(0, d.WhereLabel(_ => false).Count);
        Assert.Contains("has no labels", Assert.Throws<InvalidOperationException>(() => Synthetic.Regression(4, 2, 1, 1).WhereLabel(_ => true)).Message);
    }

    // ---- Synthetic ----

    [Fact]
    public void Blobs_are_fixed_by_the_seed()
    {
        var a = Synthetic.Blobs(200, 4, [1, 3, 3], seed: 7);
        var b = Synthetic.Blobs(200, 4, [1, 3, 3], seed: 7);
        var c = Synthetic.Blobs(200, 4, [1, 3, 3], seed: 8);
        Assert.Equal(a.Features, b.Features);
        Assert.Equal(a.Labels, b.Labels);
        Assert.NotEqual(a.Features, c.Features);
        Assert.NotEqual(a.Labels, c.Labels);
        Assert.Equal("blobs", a.Name);
        Assert.Equal([1, 3, 3], a.SampleShape);
        Assert.Equal((200, 4, 9), (a.Count, a.Classes, a.FeatureSize));
    }

    [Fact]
    public void Blobs_are_balanced_shuffled_and_inside_the_unit_interval()
    {
        var d = Synthetic.Blobs(103, 10, [5], seed: 1, spread: 3f, name: "wide");
        Assert.Equal("wide", d.Name);
        Assert.Equal([11, 11, 11, 10, 10, 10, 10, 10, 10, 10], TestData.Counts(d.Labels, 10));
        Assert.NotEqual(Enumerable.Range(0, 103).Select(i => i % 10).ToArray(), d.Labels);
        Assert.Equal(0f, TensorPrimitives.Min(d.Features));
        Assert.Equal(1f, TensorPrimitives.Max(d.Features));
    }

    [Fact]
    public void Blob_samples_scatter_around_their_class_prototype()
    {
        // Without noise every sample of a class is its prototype; the noise then has the documented spread.
        var exact = Synthetic.Blobs(60, 3, [4], seed: 5, spread: 0f);
        var noisy = Synthetic.Blobs(3000, 3, [4], seed: 5);
        for (var i = 0; i < exact.Count; i++)
        {
            var first = Array.IndexOf(exact.Labels, exact.Labels[i]);
            Assert.Equal(exact.Features.AsSpan(first * 4, 4).ToArray(), exact.Features.AsSpan(i * 4, 4).ToArray());
        }

        var prototype = exact.Features.AsSpan(Array.IndexOf(exact.Labels, 0) * 4, 4).ToArray();
        var deviations = new List<double>();
        for (var i = 0; i < noisy.Count; i++)
        {
            if (noisy.Labels[i] != 0) continue;
            for (var j = 0; j < 4; j++)
            {
                // Entries near 0.5 are rarely clipped, so their spread is the noise's own.
                if (Math.Abs(prototype[j] - 0.5) < 0.25) deviations.Add(noisy.Features[i * 4 + j] - prototype[j]);
            }
        }
        Assert.NotEmpty(deviations);
        Assert.InRange(deviations.Average(), -0.03, 0.03);
        Assert.InRange(Math.Sqrt(deviations.Average(x => x * x)), 0.2, 0.26);
    }

    [Fact]
    public void A_small_mlp_learns_blobs_that_a_nearest_prototype_rule_cannot_separate()
    {
        var all = Synthetic.Blobs(3000, 10, [8], seed: 11);
        var train = all.Subset(Enumerable.Range(0, 2000).ToArray());
        var test = all.Subset(Enumerable.Range(2000, 1000).ToArray());

        // Class means of the training set stand in for the prototypes: the best a simple rule can do.
        var means = new double[10, 8];
        var counts = TestData.Counts(train.Labels, 10);
        for (var i = 0; i < train.Count; i++)
            for (var j = 0; j < 8; j++) means[train.Labels[i], j] += train.Features[i * 8 + j] / (double)counts[train.Labels[i]];
        var nearest = Enumerable.Range(0, test.Count).Count(i =>
            Enumerable.Range(0, 10).MinBy(c => Enumerable.Range(0, 8).Sum(j => Math.Pow(test.Features[i * 8 + j] - means[c, j], 2))) == test.Labels[i]);
        Assert.InRange(nearest / 1000.0, 0.5, 0.95);

        var rng = Rng.For(3, "init");
        Tensor Param(params int[] shape)
        {
            var t = new Tensor(shape, requiresGrad: true);
            var bound = 1f / MathF.Sqrt(shape[^1]);
            rng.FillUniform(t.Span, -bound, bound);
            return t;
        }
        Tensor w1 = Param(64, 8), b1 = Param(64), w2 = Param(10, 64), b2 = Param(10);
        Tensor[] parameters = [w1, b1, w2, b2];
        var batches = new Batcher(train, 32, shuffle: true, seed: 3);
        for (var step = 0; step < 400; step++)
        {
            if (!batches.Next(out var batch)) batches.Next(out batch);
            using (var tape = new Tape())
            {
                var loss = Ops.SoftmaxCrossEntropy(Ops.Linear(Ops.Relu(Ops.Linear(batch!.X, w1, b1)), w2, b2), batch.Labels);
                tape.Backward(loss);
            }
            foreach (var p in parameters)
            {
                TensorPrimitives.MultiplyAdd(p.Grad!.Span, -0.5f, p.Span, p.Span);
                p.Grad.Span.Clear();
            }
        }

        int[] predicted;
        using (new Tape(recordGradients: false))
        {
            predicted = Ops.ArgMax(Ops.Linear(Ops.Relu(Ops.Linear(new Tensor([test.Count, 8], test.Features), w1, b1)), w2, b2));
        }
        var accuracy = predicted.Zip(test.Labels).Count(p => p.First == p.Second) / 1000.0;
        Assert.InRange(accuracy, 0.5, 1.0);
        Assert.True(accuracy > nearest / 1000.0 - 0.08, $"the MLP reached {accuracy:P1}, the nearest-prototype rule {nearest / 1000.0:P1}");
    }

    [Fact]
    public void Regression_targets_are_a_noisy_linear_function_fixed_by_the_seed()
    {
        var a = Synthetic.Regression(600, 3, 2, seed: 4, noise: 0.1f);
        Assert.Equal(a.Features, Synthetic.Regression(600, 3, 2, seed: 4, noise: 0.1f).Features);
        Assert.Equal(a.Targets!, Synthetic.Regression(600, 3, 2, seed: 4, noise: 0.1f).Targets!);
        Assert.NotEqual(a.Targets!, Synthetic.Regression(600, 3, 2, seed: 5, noise: 0.1f).Targets!);
        Assert.Equal(("regression", 600, 3, 2, 0), (a.Name, a.Count, a.FeatureSize, a.TargetSize, a.Classes));
        Assert.Empty(a.Labels);
        Assert.Equal(600 * 2, a.Targets!.Length);

        Assert.InRange(ResidualStd(a, 3, 2), 0.09, 0.11);
        Assert.InRange(ResidualStd(Synthetic.Regression(600, 3, 2, seed: 4, noise: 0f), 3, 2), 0, 1e-5);
        // The noise does not move the inputs: the same seed draws the same x whatever the noise.
        Assert.Equal(a.Features, Synthetic.Regression(600, 3, 2, seed: 4, noise: 0f).Features);
    }

    /// <summary>The residual standard deviation of an ordinary least-squares fit with intercept.</summary>
    private static double ResidualStd(Dataset d, int inputs, int outputs)
    {
        var n = inputs + 1;
        double sumSquares = 0;
        for (var o = 0; o < outputs; o++)
        {
            var a = new double[n, n + 1];
            for (var s = 0; s < d.Count; s++)
            {
                var row = new double[n];
                for (var j = 0; j < inputs; j++) row[j] = d.Features[s * inputs + j];
                row[inputs] = 1;
                for (var r = 0; r < n; r++)
                {
                    for (var c = 0; c < n; c++) a[r, c] += row[r] * row[c];
                    a[r, n] += row[r] * d.Targets![s * outputs + o];
                }
            }
            for (var p = 0; p < n; p++)
            {
                for (var r = p + 1; r < n; r++)
                {
                    var f = a[r, p] / a[p, p];
                    for (var c = p; c <= n; c++) a[r, c] -= f * a[p, c];
                }
            }
            var beta = new double[n];
            for (var r = n - 1; r >= 0; r--)
            {
                var v = a[r, n];
                for (var c = r + 1; c < n; c++) v -= a[r, c] * beta[c];
                beta[r] = v / a[r, r];
            }
            for (var s = 0; s < d.Count; s++)
            {
                var fit = beta[inputs];
                for (var j = 0; j < inputs; j++) fit += beta[j] * d.Features[s * inputs + j];
                sumSquares += Math.Pow(d.Targets![s * outputs + o] - fit, 2);
            }
        }
        return Math.Sqrt(sumSquares / (d.Count * outputs));
    }
}
