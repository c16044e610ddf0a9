using System.Diagnostics.CodeAnalysis;
using Kiln.Train.Tensors;

namespace Kiln.Train.Data;

/// <summary>
/// Cuts a <see cref="Dataset"/> into mini-batches, epoch after epoch, without allocating once each batch size has
/// been seen: the batch it returns is overwritten by the next batch of the same size, so read or copy it before
/// asking for the next one.
/// <code>
/// var batches = new Batcher(train, 64, shuffle: true, seed);
/// for (var epoch = 0; epoch &lt; epochs; epoch++)
/// {
///     while (batches.Next(out var batch)) Step(batch.X, batch.Labels);
/// }
/// </code>
/// </summary>
public sealed class Batcher
{
    private readonly Rng _rng;
    private readonly int[] _order;
    private readonly Dictionary<int, Batch> _batches = [];
    private int _cursor;
    private bool _inEpoch;
    private int _nextEpoch;
    private RngState _epochStart;

    /// <param name="data">The samples; not copied, so it must not change while batches are drawn.</param>
    /// <param name="batchSize">Samples per batch; the last batch of an epoch may hold fewer.</param>
    /// <param name="shuffle">Draw a new order each epoch; otherwise every epoch goes through the samples in order.</param>
    /// <param name="seed">Fixes the orders: epoch k's order depends only on the seed and k.</param>
    /// <param name="dropLast">Skip an epoch's last batch when it would be smaller than <paramref name="batchSize"/>.</param>
    public Batcher(Dataset data, int batchSize, bool shuffle, long seed, bool dropLast = false)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        if (data.Count == 0) throw new ArgumentException($"dataset {data.Name} is empty; there is nothing to batch", nameof(data));
        if (dropLast && data.Count < batchSize)
            throw new ArgumentException($"dataset {data.Name} holds {data.Count} samples, fewer than one batch of {batchSize}, and dropLast would drop them all", nameof(dropLast));
        Data = data;
        BatchSize = batchSize;
        Shuffle = shuffle;
        DropLast = dropLast;
        BatchesPerEpoch = dropLast ? data.Count / batchSize : (data.Count + batchSize - 1) / batchSize;
        _rng = Rng.For(seed, "batcher");
        _order = new int[data.Count];
    }

    public Dataset Data { get; }

    public int BatchSize { get; }

    public bool Shuffle { get; }

    public bool DropLast { get; }

    public int BatchesPerEpoch { get; }

    /// <summary>The epoch (from 0) that the last batch came from; 0 before the first batch.</summary>
    public int Epoch { get; private set; }

    /// <summary>
    /// The next batch of the current epoch, or false when the epoch is over; the call after that starts the next
    /// epoch. The batch is reused by later calls that return the same size.
    /// </summary>
    public bool Next([MaybeNullWhen(false)] out Batch batch)
    {
        if (!_inEpoch) StartEpoch();
        var remaining = Data.Count - _cursor;
        if (remaining == 0 || (DropLast && remaining < BatchSize))
        {
            _inEpoch = false;
            batch = null;
            return false;
        }

        var size = Math.Min(BatchSize, remaining);
        if (!_batches.TryGetValue(size, out batch)) _batches[size] = batch = new Batch(size, Data);
        Fill(batch, _order.AsSpan(_cursor, size));
        _cursor += size;
        return true;
    }

    private void StartEpoch()
    {
        Epoch = _nextEpoch++;
        _epochStart = _rng.State;
        // Each epoch shuffles the identity rather than the last order, so an order is one shuffle's draws, not a chain.
        for (var i = 0; i < _order.Length; i++) _order[i] = i;
        if (Shuffle) _rng.Shuffle(_order.AsSpan());
        _cursor = 0;
        _inEpoch = true;
    }

    /// <summary>The data order and position: enough to draw the same batches from here on in another process.</summary>
    public BatcherState State => new(Epoch, _nextEpoch, _cursor, _inEpoch, _inEpoch ? _epochStart : _rng.State);

    /// <summary>
    /// Continues from a <see cref="State"/> of a batcher over the same data and batch size. The epoch's order is drawn
    /// again from the generator as it stood when the epoch began, rather than stored: it is one shuffle's draws.
    /// </summary>
    public void Restore(BatcherState state)
    {
        if (state.Cursor < 0 || state.Cursor > Data.Count)
            throw new ArgumentException($"batcher state: position {state.Cursor} is outside dataset {Data.Name} of {Data.Count} samples", nameof(state));
        _rng.Restore(state.Rng);
        if (state.InEpoch)
        {
            _nextEpoch = state.Epoch;
            StartEpoch();
            _cursor = state.Cursor;
        }
        else
        {
            _inEpoch = false;
            _cursor = state.Cursor;
        }
        Epoch = state.Epoch;
        _nextEpoch = state.NextEpoch;
    }

    private void Fill(Batch batch, ReadOnlySpan<int> indices)
    {
        var f = Data.FeatureSize;
        var t = Data.TargetSize;
        var x = batch.X.Data;
        for (var i = 0; i < indices.Length; i++)
        {
            var src = indices[i];
            batch.Indices[i] = src;
            Data.Features.AsSpan(src * f, f).CopyTo(x.AsSpan(i * f, f));
            if (Data.HasLabels) batch.Labels[i] = Data.Labels[src];
            if (batch.Y is { } y) Data.Targets.AsSpan(src * t, t).CopyTo(y.Data.AsSpan(i * t, t));
        }
    }
}

/// <summary>
/// Where a <see cref="Batcher"/> stands: the epoch, the next epoch, the position in the epoch's order, and the generator
/// as it stood when the epoch began (or, between epochs, as it stands).
/// </summary>
public readonly record struct BatcherState(int Epoch, int NextEpoch, int Cursor, bool InEpoch, RngState Rng);

/// <summary>One mini-batch: a view that <see cref="Batcher"/> refills, valid until its next call returning the same size.</summary>
public sealed class Batch
{
    internal Batch(int size, Dataset data)
    {
        Size = size;
        X = new Tensor([size, .. data.SampleShape]);
        Labels = data.HasLabels ? new int[size] : [];
        Y = data.Targets is null ? null : new Tensor([size, data.TargetSize]);
        Indices = new int[size];
    }

    /// <summary>The samples, shaped [<see cref="Size"/>, ..sample shape].</summary>
    public Tensor X { get; }

    /// <summary>The class index of each sample, or empty when the dataset has no labels.</summary>
    public int[] Labels { get; }

    /// <summary>The regression targets, [<see cref="Size"/>, target size], when the dataset has targets.</summary>
    public Tensor? Y { get; }

    /// <summary>Where each sample sits in the dataset, for per-sample bookkeeping.</summary>
    public int[] Indices { get; }

    public int Size { get; }
}
