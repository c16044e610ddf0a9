using Kiln.Train.Data;

namespace Kiln.Train.Tests;

/// <summary>The batcher: epochs, shuffling, the short batch and buffer reuse.</summary>
public sealed class BatcherTests
{
    private static List<int[]> Epoch(Batcher b)
    {
        var batches = new List<int[]>();
        while (b.Next(out var batch)) batches.Add((int[])batch.Indices.Clone());
        return batches;
    }

    [Fact]
    public void Every_sample_comes_exactly_once_per_epoch_with_its_features_and_label()
    {
        var d = TestData.Numbered(103, classes: 5);
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
        var d = TestData.Numbered(50);
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
        var b = new Batcher(TestData.Numbered(10), 4, shuffle: false, seed: 1);
        for (var epoch = 0; epoch < 2; epoch++)
        {
            var batches = Epoch(b);
            Assert.Equal(new[] { new[] { 0, 1, 2, 3 }, [4, 5, 6, 7], [8, 9] }, batches);
        }
    }

    [Fact]
    public void DropLast_skips_the_short_batch_and_a_dataset_smaller_than_a_batch_is_an_error()
    {
        var b = new Batcher(TestData.Numbered(103), 10, shuffle: true, seed: 2, dropLast: true);
        Assert.Equal(10, b.BatchesPerEpoch);
        var batches = Epoch(b);
        Assert.Equal(10, batches.Count);
        Assert.All(batches, x => Assert.Equal(10, x.Length));
        Assert.Equal(100, batches.SelectMany(x => x).Distinct().Count());

        Assert.Contains("holds 5 samples, fewer than one batch of 8", Assert.Throws<ArgumentException>(() => new Batcher(TestData.Numbered(5), 8, true, 1, dropLast: true)).Message);
        Assert.Contains("dataset e is empty", Assert.Throws<ArgumentException>(() => new Batcher(new Dataset("e", [], [3], [], 0), 8, true, 1)).Message);
        Assert.Equal(1, new Batcher(TestData.Numbered(5), 8, true, 1).BatchesPerEpoch);
    }

    [Fact]
    public void Batches_reuse_their_buffers_for_each_size_and_do_not_allocate()
    {
        var b = new Batcher(TestData.Numbered(25), 10, shuffle: true, seed: 2);
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
