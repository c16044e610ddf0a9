namespace Kiln.Train.Data;

/// <summary>
/// Zalando's Fashion-MNIST: 28×28 greyscale pictures of clothing in 10 classes, 60,000 for training and 10,000
/// for testing, read from the four IDX files that Debian's <c>dataset-fashion-mnist</c> package installs.
/// Pixels are scaled to [0, 1] and not standardized, so a model sees the same values PyTorch's <c>ToTensor()</c> gives.
/// </summary>
public static class FashionMnist
{
    public const string DefaultDir = "/usr/share/datasets/fashion-mnist";

    public const int Classes = 10;

    public const int Side = 28;

    /// <summary>The class names, indexed by label.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    private const string TrainImages = "train-images-idx3-ubyte";
    private const string TrainLabels = "train-labels-idx1-ubyte";
    private const string TestImages = "t10k-images-idx3-ubyte";
    private const string TestLabels = "t10k-labels-idx1-ubyte";

    /// <summary>
    /// Loads both splits, or says why it cannot: false only when a file is missing. Files that are present but
    /// malformed still throw <see cref="InvalidDataException"/>, since quietly skipping a corrupt dataset would hide it.
    /// </summary>
    /// <param name="dataDir">The folder holding the four files (gzipped or not); null for <see cref="DefaultDir"/>.</param>
    public static bool TryLoad(string? dataDir, out Dataset? train, out Dataset? test, out string reason)
    {
        train = test = null;
        var dir = dataDir ?? DefaultDir;
        var paths = new string[4];
        string[] names = [TrainImages, TrainLabels, TestImages, TestLabels];
        for (var i = 0; i < names.Length; i++)
        {
            if (Find(dir, names[i]) is not { } found)
            {
                reason = $"Fashion-MNIST file {Path.Combine(dir, names[i])}.gz is missing: install Debian's dataset-fashion-mnist package " +
                         $"(it provides {DefaultDir}) or pass --data-dir with a folder holding the four Fashion-MNIST IDX files";
                return false;
            }
            paths[i] = found;
        }

        // The splits are independent, so the test split loads on another core while the train split decompresses.
        var trainTask = Task.Run(() => Read(paths[0], paths[1], "fashion-mnist-train"));
        try
        {
            test = Read(paths[2], paths[3], "fashion-mnist-test");
        }
        catch
        {
            // Let the other split finish, so a failure of its own is observed rather than left on a stray task.
            try { trainTask.Wait(); } catch (AggregateException) { }
            throw;
        }
        train = trainTask.GetAwaiter().GetResult();
        reason = "";
        return true;
    }

    /// <summary>Loads both splits.</summary>
    /// <exception cref="FileNotFoundException">A file is missing; the message says which and what provides it.</exception>
    /// <exception cref="InvalidDataException">A file is malformed; the message names it.</exception>
    public static (Dataset Train, Dataset Test) Load(string? dataDir = null)
    {
        if (!TryLoad(dataDir, out var train, out var test, out var reason)) throw new FileNotFoundException(reason);
        return (train!, test!);
    }

    private static string? Find(string dir, string name)
    {
        var gz = Path.Combine(dir, name + ".gz");
        if (File.Exists(gz)) return gz;
        var raw = Path.Combine(dir, name);
        return File.Exists(raw) ? raw : null;
    }

    private static Dataset Read(string imagesPath, string labelsPath, string name)
    {
        var (count, rows, cols, pixels) = IdxReader.ReadImages(imagesPath);
        if (rows != Side || cols != Side)
            throw new InvalidDataException($"{imagesPath}: Fashion-MNIST images are {Side}x{Side}, this file holds {rows}x{cols}");
        var raw = IdxReader.ReadLabels(labelsPath);
        if (raw.Length != count)
            throw new InvalidDataException($"{labelsPath}: holds {raw.Length} labels but {imagesPath} holds {count} images");

        var labels = new int[raw.Length];
        for (var i = 0; i < raw.Length; i++)
        {
            if (raw[i] >= Classes) throw new InvalidDataException($"{labelsPath}: label {raw[i]} of sample {i} is outside [0, {Classes})");
            labels[i] = raw[i];
        }

        var features = new float[pixels.Length];
        // A plain loop: TensorPrimitives' generic byte-to-float conversion costs half a second of JIT on first use,
        // and a process loads the data once. Most of what remains is the kernel mapping the fresh 188 MB array page
        // by page, which does spread over cores, hence the chunks.
        var chunks = Math.Clamp(pixels.Length / (1 << 22), 1, Environment.ProcessorCount);
        Parallel.For(0, chunks, c =>
        {
            var end = (int)((long)(c + 1) * pixels.Length / chunks);
            for (var i = (int)((long)c * pixels.Length / chunks); i < end; i++) features[i] = pixels[i] / 255f;
        });
        return new Dataset(name, features, [1, rows, cols], labels, Classes);
    }
}
