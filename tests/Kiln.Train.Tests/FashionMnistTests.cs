using Kiln.Testing;
using Kiln.Train.Data;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace Kiln.Train.Tests;

/// <summary>Fashion-MNIST: the real files when installed, gzipped or unpacked, and what a missing or bad file says.</summary>
public sealed class FashionMnistTests
{
    [Fact]
    public void The_real_fashion_mnist_loads_with_the_known_shape_balance_and_values()
    {
        if (!FashionMnist.TryLoad(null, out var train, out var test, out var reason))
            Assert.Fail($"{reason}. Install Debian's dataset-fashion-mnist package (run scripts/setup.sh) to run this test.");

        Assert.Equal("fashion-mnist-train", train!.Name);
        Assert.Equal("fashion-mnist-test", test!.Name);
        Assert.Equal((60000, 10000), (train.Count, test.Count));
        foreach (var d in new[] { train, test })
        {
            Assert.Equal([1, 28, 28], d.SampleShape);
            Assert.Equal(784, d.FeatureSize);
            Assert.Equal(10, d.Classes);
            Assert.Equal(d.Count * 784, d.Features.Length);
            Assert.Null(d.Targets);
            Assert.Equal(0f, TensorPrimitives.Min(d.Features));
            Assert.Equal(1f, TensorPrimitives.Max(d.Features));
        }
        Assert.All(TestData.Counts(train.Labels, 10), c => Assert.Equal(6000, c));
        Assert.All(TestData.Counts(test.Labels, 10), c => Assert.Equal(1000, c));
        Assert.Equal([9, 0, 0, 3, 0, 2, 7, 2, 5, 5], train.Labels[..10]);
        Assert.Equal([9, 2, 1, 1, 6, 1, 4, 6, 5, 7], test.Labels[..10]);

        // Scaled, not standardized: each value is a byte over 255, and the pixel means are the published ones.
        Assert.Equal(76247, Math.Round(TensorPrimitives.Sum(train.Features.AsSpan(0, 784)) * 255));
        Assert.Equal(33456, Math.Round(TensorPrimitives.Sum(test.Features.AsSpan(0, 784)) * 255));
        Assert.InRange(train.Features.Average(v => (double)v), 0.28600, 0.28610);
        Assert.InRange(test.Features.Average(v => (double)v), 0.28680, 0.28690);
        Assert.All(train.Features.Take(784 * 5), v => Assert.Equal(MathF.Round(v * 255) / 255f, v));
    }

    private static void WriteFakeFashion(string dir, int trainCount = 6, int testCount = 4, int side = 28, bool gzip = true)
    {
        IdxReader.WriteImages(Path.Combine(dir, "train-images-idx3-ubyte" + (gzip ? ".gz" : "")), trainCount, side, side, TestData.Pattern(trainCount * side * side), gzip);
        IdxReader.WriteLabels(Path.Combine(dir, "train-labels-idx1-ubyte" + (gzip ? ".gz" : "")), Enumerable.Range(0, trainCount).Select(i => (byte)(i % 10)).ToArray(), gzip);
        IdxReader.WriteImages(Path.Combine(dir, "t10k-images-idx3-ubyte"), testCount, side, side, TestData.Pattern(testCount * side * side));
        IdxReader.WriteLabels(Path.Combine(dir, "t10k-labels-idx1-ubyte"), Enumerable.Range(0, testCount).Select(i => (byte)(9 - i)).ToArray());
    }

    [Fact]
    public void Fashion_mnist_reads_gzipped_and_unpacked_files_from_a_data_dir()
    {
        using var dir = new TempDir("fashion");
        WriteFakeFashion(dir.Path);
        var (train, test) = FashionMnist.Load(dir.Path);
        Assert.Equal((6, 4), (train.Count, test.Count));
        Assert.Equal([0, 1, 2, 3, 4, 5], train.Labels);
        Assert.Equal([9, 8, 7, 6], test.Labels);
        var pixels = TestData.Pattern(6 * 784);
        for (var i = 0; i < pixels.Length; i++) Assert.Equal(pixels[i] / 255f, train.Features[i]);
        Assert.Equal([1, 28, 28], test.SampleShape);
    }

    [Fact]
    public void Missing_fashion_mnist_files_say_which_and_what_provides_them()
    {
        using var dir = new TempDir("fashion");
        Assert.False(FashionMnist.TryLoad(dir.Path, out var train, out var test, out var reason));
        Assert.Null(train);
        Assert.Null(test);
        Assert.Contains(Path.Combine(dir.Path, "train-images-idx3-ubyte.gz") + " is missing", reason);
        Assert.Contains("dataset-fashion-mnist", reason);
        Assert.Contains("--data-dir", reason);

        WriteFakeFashion(dir.Path);
        File.Delete(Path.Combine(dir.Path, "t10k-labels-idx1-ubyte"));
        var ex = Assert.Throws<FileNotFoundException>(() => FashionMnist.Load(dir.Path));
        Assert.Contains(Path.Combine(dir.Path, "t10k-labels-idx1-ubyte.gz") + " is missing", ex.Message);
        Assert.Contains("Debian's dataset-fashion-mnist package", ex.Message);
    }

    [Fact]
    public void Fashion_mnist_files_that_disagree_are_errors_naming_the_file()
    {
        using (var dir = new TempDir("fashion"))
        {
            WriteFakeFashion(dir.Path);
            IdxReader.WriteLabels(Path.Combine(dir.Path, "t10k-labels-idx1-ubyte"), [1, 2, 3]);
            var ex = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(dir.Path));
            Assert.Equal($"{Path.Combine(dir.Path, "t10k-labels-idx1-ubyte")}: holds 3 labels but {Path.Combine(dir.Path, "t10k-images-idx3-ubyte")} holds 4 images", ex.Message);
        }
        using (var dir = new TempDir("fashion"))
        {
            WriteFakeFashion(dir.Path, side: 27, gzip: false);
            var ex = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(dir.Path));
            Assert.EndsWith("images-idx3-ubyte: Fashion-MNIST images are 28x28, this file holds 27x27", ex.Message);
        }
        using (var dir = new TempDir("fashion"))
        {
            WriteFakeFashion(dir.Path);
            IdxReader.WriteLabels(Path.Combine(dir.Path, "t10k-labels-idx1-ubyte"), [1, 2, 10, 3]);
            var ex = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(dir.Path));
            Assert.Equal($"{Path.Combine(dir.Path, "t10k-labels-idx1-ubyte")}: label 10 of sample 2 is outside [0, 10)", ex.Message);
        }
    }
}
