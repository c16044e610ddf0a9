using Kiln.Train.Tensors;

namespace Kiln.Train.Data;

/// <summary>
/// Samples held in memory as flat row-major arrays: <see cref="Features"/> has one row of <see cref="FeatureSize"/>
/// values per sample, <see cref="Labels"/> one class index per sample (or none), <see cref="Targets"/> one row of
/// <see cref="TargetSize"/> regression targets per sample (or null). Flat arrays let a batch be gathered with one
/// block copy per sample.
/// </summary>
public sealed class Dataset
{
    /// <summary>Checks that every array agrees with <paramref name="sampleShape"/> and that every label is a valid class.</summary>
    /// <param name="name">Shown in logs and errors.</param>
    /// <param name="features">N × FeatureSize values, row-major; kept, not copied.</param>
    /// <param name="sampleShape">The shape of one sample, e.g. <c>[1, 28, 28]</c>; every dimension positive.</param>
    /// <param name="labels">N class indices in [0, <paramref name="classes"/>), or empty when the samples have no classes.</param>
    /// <param name="classes">How many classes the labels index; 0 when there are no labels.</param>
    /// <param name="targets">N × <paramref name="targetSize"/> regression targets, or null.</param>
    /// <param name="targetSize">Values per sample in <paramref name="targets"/>; 0 when there are none.</param>
    public Dataset(string name, float[] features, int[] sampleShape, int[] labels, int classes, float[]? targets = null, int targetSize = 0)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(sampleShape);
        ArgumentNullException.ThrowIfNull(labels);
        Name = name;

        if (sampleShape.Length == 0 || sampleShape.Any(d => d <= 0))
            throw new ArgumentException($"dataset {name}: sample shape {Tensor.ShapeText(sampleShape)} needs at least one dimension, all positive", nameof(sampleShape));
        SampleShape = (int[])sampleShape.Clone();
        FeatureSize = Tensor.SizeOf(SampleShape);
        if (features.Length % FeatureSize != 0)
            throw new ArgumentException($"dataset {name}: {features.Length} feature values are not a whole number of samples of {Tensor.ShapeText(SampleShape)} ({FeatureSize} values each)", nameof(features));
        Count = features.Length / FeatureSize;
        Features = features;

        if (labels.Length != 0 && labels.Length != Count)
            throw new ArgumentException($"dataset {name}: {labels.Length} labels for {Count} samples", nameof(labels));
        if (classes < 0) throw new ArgumentOutOfRangeException(nameof(classes), classes, $"dataset {name}: the class count cannot be negative");
        if (labels.Length != 0 && classes == 0)
            throw new ArgumentException($"dataset {name}: has labels but declares 0 classes", nameof(classes));
        for (var i = 0; i < labels.Length; i++)
        {
            if ((uint)labels[i] >= (uint)classes)
                throw new ArgumentException($"dataset {name}: label {labels[i]} of sample {i} is outside [0, {classes})", nameof(labels));
        }
        Labels = labels;
        Classes = classes;

        if (targets is null)
        {
            if (targetSize != 0) throw new ArgumentException($"dataset {name}: target size {targetSize} given without targets", nameof(targetSize));
        }
        else
        {
            if (targetSize <= 0) throw new ArgumentOutOfRangeException(nameof(targetSize), targetSize, $"dataset {name}: targets need a positive target size");
            if (targets.Length != (long)Count * targetSize)
                throw new ArgumentException($"dataset {name}: {targets.Length} target values for {Count} samples of {targetSize} targets each (expected {(long)Count * targetSize})", nameof(targets));
        }
        Targets = targets;
        TargetSize = targetSize;
    }

    public string Name { get; }

    /// <summary>N × <see cref="FeatureSize"/> values, row-major.</summary>
    public float[] Features { get; }

    /// <summary>One class index per sample, or empty when the dataset has no classes (pure regression).</summary>
    public int[] Labels { get; }

    /// <summary>N × <see cref="TargetSize"/> regression targets, or null.</summary>
    public float[]? Targets { get; }

    public int Count { get; }

    /// <summary>The shape of one sample, without the batch dimension.</summary>
    public int[] SampleShape { get; }

    public int FeatureSize { get; }

    public int TargetSize { get; }

    public int Classes { get; }

    public bool HasLabels => Labels.Length != 0;

    /// <summary>A copy holding the samples at <paramref name="indices"/>, in that order (an index may repeat).</summary>
    /// <param name="name">The subset's name; by default this dataset's name with the subset's size, e.g. <c>fashion-mnist-train[1000]</c>.</param>
    public Dataset Subset(IReadOnlyList<int> indices, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(indices);
        var n = indices.Count;
        var features = new float[(long)n * FeatureSize];
        var labels = HasLabels ? new int[n] : [];
        var targets = Targets is null ? null : new float[(long)n * TargetSize];
        for (var i = 0; i < n; i++)
        {
            var src = indices[i];
            if ((uint)src >= (uint)Count)
                throw new ArgumentOutOfRangeException(nameof(indices), src, $"dataset {Name}: index {src} at position {i} is outside [0, {Count})");
            Array.Copy(Features, (long)src * FeatureSize, features, (long)i * FeatureSize, FeatureSize);
            if (HasLabels) labels[i] = Labels[src];
            if (targets is not null) Array.Copy(Targets!, (long)src * TargetSize, targets, (long)i * TargetSize, TargetSize);
        }
        return new Dataset(name ?? $"{Name}[{n}]", features, SampleShape, labels, Classes, targets, TargetSize);
    }

    /// <summary>
    /// A copy holding the samples whose label passes <paramref name="keep"/>, in their original order. Labels keep
    /// their values and <see cref="Classes"/> stays the same, so a model's output layer still lines up.
    /// </summary>
    public Dataset WhereLabel(Func<int, bool> keep, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(keep);
        if (!HasLabels) throw new InvalidOperationException($"dataset {Name} has no labels to filter by");
        var indices = new List<int>();
        for (var i = 0; i < Count; i++)
        {
            if (keep(Labels[i])) indices.Add(i);
        }
        return Subset(indices, name);
    }

    public override string ToString() =>
        $"{Name}: {Count} samples of {Tensor.ShapeText(SampleShape)}" +
        (HasLabels ? $", {Classes} classes" : "") +
        (Targets is null ? "" : $", {TargetSize} targets");
}
