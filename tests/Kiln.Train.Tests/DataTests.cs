using System.Buffers.Binary;
using System.IO.Compression;
using Kiln.Testing;
using Kiln.Train.Autograd;
using Kiln.Train.Data;
using Kiln.Train.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace Kiln.Train.Tests;

/// <summary>IDX files, Fashion-MNIST, datasets, synthetic data and the batcher.</summary>
public sealed class DataTests
{
    private static byte[] Pattern(int length) => Enumerable.Range(0, length).Select(i => (byte)(i * 7 + 3)).ToArray();

    private static byte[] Gzip(byte[] raw)
    {
        using var buffer = new MemoryStream();
        using (var z = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true)) z.Write(raw);
        return buffer.ToArray();
    }

    private static byte[] Header(params uint[] words)
    {
        var bytes = new byte[4 * words.Length];
        for (var i = 0; i < words.Length; i++) BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4 * i), words[i]);
        return bytes;
    }

    // ---- IDX ----

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Idx_images_and_labels_survive_a_round_trip(bool gzip)
    {
        using var dir = new TempDir("idx");
        var pixels = Pattern(3 * 4 * 5);
        IdxReader.WriteImages(dir.File("images"), 3, 4, 5, pixels, gzip);
        IdxReader.WriteLabels(dir.File("labels"), [9, 0, 4], gzip);

        var head = File.ReadAllBytes(dir.File("images"));
        Assert.Equal(gzip ? "1f8b" : "00000803", Convert.ToHexStringLower(head, 0, gzip ? 2 : 4));
        var (count, rows, cols, read) = IdxReader.ReadImages(dir.File("images"));
        Assert.Equal((3, 4, 5), (count, rows, cols));
        Assert.Equal(pixels, read);
        Assert.Equal([9, 0, 4], IdxReader.ReadLabels(dir.File("labels")));
    }

    [Fact]
    public void Raw_idx_files_have_the_documented_layout()
    {
        using var dir = new TempDir("idx");
        IdxReader.WriteImages(dir.File("i"), 2, 1, 3, [1, 2, 3, 4, 5, 6]);
        IdxReader.WriteLabels(dir.File("l"), [7, 8]);
        Assert.Equal([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6], File.ReadAllBytes(dir.File("i")));
        Assert.Equal([0, 0, 8, 1, 0, 0, 0, 2, 7, 8], File.ReadAllBytes(dir.File("l")));
    }

    [Fact]
    public void Gzip_is_told_by_its_magic_bytes_not_the_file_name()
    {
        using var dir = new TempDir("idx");
        var pixels = Pattern(2 * 3 * 3);
        File.WriteAllBytes(dir.File("compressed.idx"), Gzip([.. Header(0x803, 2, 3, 3), .. pixels]));
        File.WriteAllBytes(dir.File("plain.gz"), [.. Header(0x801, 2), 5, 6]);
        Assert.Equal(pixels, IdxReader.ReadImages(dir.File("compressed.idx")).Pixels);
        Assert.Equal([5, 6], IdxReader.ReadLabels(dir.File("plain.gz")));
    }

    [Fact]
    public void An_empty_idx_file_of_zero_images_is_valid()
    {
        using var dir = new TempDir("idx");
        IdxReader.WriteImages(dir.File("i"), 0, 28, 28, []);
        var (count, rows, cols, pixels) = IdxReader.ReadImages(dir.File("i"));
        Assert.Equal((0, 28, 28, 0), (count, rows, cols, pixels.Length));
    }

    public static TheoryData<string, byte[], string> BadImageFiles => new()
    {
        { "a label file", [.. Header(0x801, 3), 1, 2, 3], "not an IDX image file (magic 0x00000801; expected 0x00000803, unsigned bytes, 3 dimensions)" },
        { "float pixels", [.. Header(0xD03, 1, 1, 1), 0, 0, 0, 0], "not an IDX image file (magic 0x00000D03" },
        { "text", "hello, world, this is not IDX"u8.ToArray(), "not an IDX image file (magic 0x68656C6C" },
        { "an empty file", [], "not an IDX image file (only 0 bytes)" },
        { "two bytes", [0, 0], "not an IDX image file (only 2 bytes)" },
        { "a cut header", [.. Header(0x803, 60000), 0], "truncated header: an IDX image file needs 16 header bytes, the file holds 9" },
        { "cut pixels", [.. Header(0x803, 3, 4, 4), .. Pattern(38)], "truncated: header says 3 images of 4x4, file holds 38 bytes of pixels" },
        { "cut gzip pixels", Gzip([.. Header(0x803, 60000, 28, 28), .. Pattern(1234)]), "truncated: header says 60000 images of 28x28, file holds 1234 bytes of pixels" },
        { "extra bytes", [.. Header(0x803, 3, 4, 4), .. Pattern(53)], "trailing data: header says 3 images of 4x4 (48 bytes of pixels), file holds 5 bytes more" },
        { "zero rows", Header(0x803, 1, 0, 4), "image size 0x4 is empty" },
        { "a count past int", Header(0x803, 0xFFFFFFFF, 28, 28), "image count 4294967295 in the header is too large" },
        { "an impossible size", Header(0x803, 65535, 65535, 65535), "header says 65535 images of 65535x65535, 281462092005375 bytes, more than one array can hold" },
        { "corrupt gzip", [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], "corrupt gzip data" },
    };

    [Theory]
    [MemberData(nameof(BadImageFiles))]
    public void Bad_idx_image_files_are_errors_naming_the_file(string what, byte[] content, string error)
    {
        using var dir = new TempDir("idx");
        var path = dir.File(what.Replace(' ', '-'));
        File.WriteAllBytes(path, content);
        var ex = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(path));
        Assert.StartsWith(path + ": ", ex.Message);
        Assert.Contains(error, ex.Message);
    }

    public static TheoryData<string, byte[], string> BadLabelFiles => new()
    {
        { "an image file", [.. Header(0x803, 1, 1, 1), 0], "not an IDX label file (magic 0x00000803; expected 0x00000801, unsigned bytes, 1 dimension)" },
        { "a cut header", [0, 0, 8, 1, 0, 0], "truncated header: an IDX label file needs 8 header bytes, the file holds 6" },
        { "cut labels", [.. Header(0x801, 10), 1, 2, 3], "truncated: header says 10 labels, file holds 3" },
        { "cut gzip labels", Gzip([.. Header(0x801, 60000), 1, 2]), "truncated: header says 60000 labels, file holds 2" },
        { "extra bytes", [.. Header(0x801, 2), 1, 2, 3], "trailing data: header says 2 labels, file holds 1 bytes more" },
    };

    [Theory]
    [MemberData(nameof(BadLabelFiles))]
    public void Bad_idx_label_files_are_errors_naming_the_file(string what, byte[] content, string error)
    {
        using var dir = new TempDir("idx");
        var path = dir.File(what.Replace(' ', '-'));
        File.WriteAllBytes(path, content);
        var ex = Assert.Throws<InvalidDataException>(() => IdxReader.ReadLabels(path));
        Assert.StartsWith(path + ": ", ex.Message);
        Assert.Contains(error, ex.Message);
    }

    [Fact]
    public void A_gzip_stream_cut_short_is_an_error_naming_the_file()
    {
        using var dir = new TempDir("idx");
        var path = dir.File("cut.gz");
        IdxReader.WriteImages(path, 20, 8, 8, Pattern(20 * 64), gzip: true);
        var whole = File.ReadAllBytes(path);
        File.WriteAllBytes(path, whole[..(whole.Length / 2)]);
        var ex = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(path));
        Assert.StartsWith(path + ": ", ex.Message);
        Assert.Matches("truncated: header says 20 images of 8x8, file holds [0-9]+ bytes of pixels|corrupt gzip data", ex.Message);
    }

    [Fact]
    public void A_missing_idx_file_is_a_file_not_found_error_naming_it()
    {
        using var dir = new TempDir("idx");
        var ex = Assert.Throws<FileNotFoundException>(() => IdxReader.ReadLabels(dir.File("absent")));
        Assert.Contains(dir.File("absent"), ex.Message);
    }

    [Fact]
    public void Writing_images_checks_the_pixel_count() =>
        Assert.Contains("2 images of 2x2 need 8 pixels, got 7", Assert.Throws<ArgumentException>(() => IdxReader.WriteImages("unused", 2, 2, 2, new byte[7])).Message);

    // ---- Fashion-MNIST ----

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
        Assert.All(Counts(train.Labels, 10), c => Assert.Equal(6000, c));
        Assert.All(Counts(test.Labels, 10), c => Assert.Equal(1000, c));
        Assert.Equal([9, 0, 0, 3, 0, 2, 7, 2, 5, 5], train.Labels[..10]);
        Assert.Equal([9, 2, 1, 1, 6, 1, 4, 6, 5, 7], test.Labels[..10]);

        // Scaled, not standardized: each value is a byte over 255, and the pixel means are the published ones.
        Assert.Equal(76247, Math.Round(TensorPrimitives.Sum(train.Features.AsSpan(0, 784)) * 255));
        Assert.Equal(33456, Math.Round(TensorPrimitives.Sum(test.Features.AsSpan(0, 784)) * 255));
        Assert.InRange(train.Features.Average(v => (double)v), 0.28600, 0.28610);
        Assert.InRange(test.Features.Average(v => (double)v), 0.28680, 0.28690);
        Assert.All(train.Features.Take(784 * 5), v => Assert.Equal(MathF.Round(v * 255) / 255f, v));
    }

    private static int[] Counts(int[] labels, int classes)
    {
        var counts = new int[classes];
        foreach (var l in labels) counts[l]++;
        return counts;
    }

    private static void WriteFakeFashion(string dir, int trainCount = 6, int testCount = 4, int side = 28, bool gzip = true)
    {
        IdxReader.WriteImages(Path.Combine(dir, "train-images-idx3-ubyte" + (gzip ? ".gz" : "")), trainCount, side, side, Pattern(trainCount * side * side), gzip);
        IdxReader.WriteLabels(Path.Combine(dir, "train-labels-idx1-ubyte" + (gzip ? ".gz" : "")), Enumerable.Range(0, trainCount).Select(i => (byte)(i % 10)).ToArray(), gzip);
        IdxReader.WriteImages(Path.Combine(dir, "t10k-images-idx3-ubyte"), testCount, side, side, Pattern(testCount * side * side));
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
        var pixels = Pattern(6 * 784);
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

    // ---- Dataset ----

    private static Dataset Numbered(int count, int classes = 3, bool targets = false) => new(
        "numbered",
        Enumerable.Range(0, count * 2).Select(i => (float)i).ToArray(),
        [2],
        Enumerable.Range(0, count).Select(i => i % classes).ToArray(),
        classes,
        targets ? Enumerable.Range(0, count).Select(i => -(float)i).ToArray() : null,
        targets ? 1 : 0);

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
        var d = Numbered(5, targets: true);
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
        var d = Numbered(7);
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
        Assert.Equal([11, 11, 11, 10, 10, 10, 10, 10, 10, 10], Counts(d.Labels, 10));
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
        var counts = Counts(train.Labels, 10);
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

    // ---- Batcher ----

    private static List<int[]> Epoch(Batcher b)
    {
        var batches = new List<int[]>();
        while (b.Next(out var batch)) batches.Add((int[])batch.Indices.Clone());
        return batches;
    }

    [Fact]
    public void Every_sample_comes_exactly_once_per_epoch_with_its_features_and_label()
    {
        var d = Numbered(103, classes: 5);
        var b = new Batcher(d, 10, shuffle: true, seed: 2);
        Assert.Equal(11, b.BatchesPerEpoch);
        for (var epoch = 0; epoch < 3; epoch++)
        {
            var seen = new List<int>();
            var sizes = new List<int>();
            while (b.Next(out var batch))
            {
                Assert.Equal(epoch, b.Epoch);
                sizes.Add(batch.Size);
                Assert.Equal([batch.Size, 2], batch.X.Shape);
                for (var i = 0; i < batch.Size; i++)
                {
                    var s = batch.Indices[i];
                    Assert.Equal([2f * s, 2f * s + 1], batch.X.Data.AsSpan(2 * i, 2).ToArray());
                    Assert.Equal(s % 5, batch.Labels[i]);
                }
                seen.AddRange(batch.Indices);
                Assert.Null(batch.Y);
            }
            Assert.Equal(epoch, b.Epoch);
            Assert.Equal(Enumerable.Repeat(10, 10).Append(3), sizes);
            Assert.Equal(Enumerable.Range(0, 103), seen.Order());
        }
    }

    [Fact]
    public void Orders_differ_across_epochs_and_repeat_for_the_same_seed()
    {
        var d = Numbered(50);
        var a = new Batcher(d, 7, shuffle: true, seed: 9);
        var b = new Batcher(d, 7, shuffle: true, seed: 9);
        var c = new Batcher(d, 7, shuffle: true, seed: 10);
        var a0 = Epoch(a).SelectMany(x => x).ToArray();
        var a1 = Epoch(a).SelectMany(x => x).ToArray();
        Assert.NotEqual(a0, a1);
        Assert.NotEqual(Enumerable.Range(0, 50).ToArray(), a0);
        Assert.Equal(a0, Epoch(b).SelectMany(x => x).ToArray());
        Assert.Equal(a1, Epoch(b).SelectMany(x => x).ToArray());
        Assert.NotEqual(a0, Epoch(c).SelectMany(x => x).ToArray());
        Assert.Equal(1, a.Epoch);
    }

    [Fact]
    public void Without_shuffling_every_epoch_goes_in_order()
    {
        var b = new Batcher(Numbered(10), 4, shuffle: false, seed: 1);
        for (var epoch = 0; epoch < 2; epoch++)
        {
            var batches = Epoch(b);
            Assert.Equal(new[] { new[] { 0, 1, 2, 3 }, [4, 5, 6, 7], [8, 9] }, batches);
        }
    }

    [Fact]
    public void DropLast_skips_the_short_batch_and_a_dataset_smaller_than_a_batch_is_an_error()
    {
        var b = new Batcher(Numbered(103), 10, shuffle: true, seed: 2, dropLast: true);
        Assert.Equal(10, b.BatchesPerEpoch);
        var batches = Epoch(b);
        Assert.Equal(10, batches.Count);
        Assert.All(batches, x => Assert.Equal(10, x.Length));
        Assert.Equal(100, batches.SelectMany(x => x).Distinct().Count());

        Assert.Contains("holds 5 samples, fewer than one batch of 8", Assert.Throws<ArgumentException>(() => new Batcher(Numbered(5), 8, true, 1, dropLast: true)).Message);
        Assert.Contains("dataset e is empty", Assert.Throws<ArgumentException>(() => new Batcher(new Dataset("e", [], [3], [], 0), 8, true, 1)).Message);
        Assert.Equal(1, new Batcher(Numbered(5), 8, true, 1).BatchesPerEpoch);
    }

    [Fact]
    public void Batches_reuse_their_buffers_for_each_size_and_do_not_allocate()
    {
        var b = new Batcher(Numbered(25), 10, shuffle: true, seed: 2);
        Assert.True(b.Next(out var first));
        var x = first.X;
        Assert.True(b.Next(out var second));
        Assert.Same(first, second);
        Assert.Same(x, second.X);
        Assert.True(b.Next(out var partial));
        Assert.Equal(5, partial.Size);
        Assert.NotSame(x, partial.X);
        Assert.False(b.Next(out _));
        Assert.True(b.Next(out var nextEpoch));
        Assert.Same(x, nextEpoch.X);
        Assert.Same(first.Labels, nextEpoch.Labels);

        for (var i = 0; i < 20; i++) b.Next(out _);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++) b.Next(out _);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Regression_batches_carry_their_targets()
    {
        var d = Synthetic.Regression(9, 3, 2, seed: 1);
        var b = new Batcher(d, 4, shuffle: true, seed: 1);
        var seen = 0;
        while (b.Next(out var batch))
        {
            Assert.Empty(batch.Labels);
            Assert.Equal([batch.Size, 2], batch.Y!.Shape);
            Assert.Equal([batch.Size, 3], batch.X.Shape);
            for (var i = 0; i < batch.Size; i++)
                Assert.Equal(d.Targets.AsSpan(batch.Indices[i] * 2, 2).ToArray(), batch.Y.Data.AsSpan(i * 2, 2).ToArray());
            seen += batch.Size;
        }
        Assert.Equal(9, seen);
    }
}
