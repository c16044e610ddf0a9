using Kiln.Train.Autograd;
using Kiln.Train.Compute;
using Kiln.Train.Data;
using Kiln.Train.Nn;
using Kiln.Train.Optim;
using Kiln.Train.Tensors;

namespace Kiln.Train.Tests;

/// <summary>Replay depends on it: the same seed gives bit-identical weights, and so does another thread count.</summary>
public sealed class DeterminismTests
{
    /// <summary>A few Adam steps of a small CNN (both convolution paths, pooling, a linear head); the weights' bits.</summary>
    private static int[] Train(int threads)
    {
        var saved = Workers.Threads;
        Workers.Threads = threads;
        try
        {
            var data = Synthetic.Blobs(60, 10, [1, 12, 12], seed: 5, spread: 4f, name: "blobs");
            var rng = Rng.For(3, "model");
            var model = new Sequential(
                new Conv2d(1, 4, 3, rng, padding: 1), new ReLU(), new MaxPool2d(2),
                new Conv2d(4, 8, 3, rng, padding: 1), new ReLU(), new MaxPool2d(2),
                new Flatten(), new Linear(8 * 3 * 3, 10, rng));
            var optimizer = new Adam([new ParamGroup("0", model.Parameters(), 1e-2)]);
            var batcher = new Batcher(data, 20, shuffle: true, seed: 3);
            for (long step = 0; step < 6; step++)
            {
                if (!batcher.Next(out var batch)) batcher.Next(out batch);
                optimizer.ZeroGrad();
                using (var tape = new Tape()) tape.Backward(Ops.SoftmaxCrossEntropy(model.Forward(batch!.X), batch.Labels));
                optimizer.Step(step);
            }
            return model.Parameters().SelectMany(p => p.ToArray()).Select(BitConverter.SingleToInt32Bits).ToArray();
        }
        finally
        {
            Workers.Threads = saved;
        }
    }

    [Fact]
    public void The_same_seed_and_thread_count_give_bit_identical_weights() => Assert.Equal(Train(2), Train(2));

    [Fact]
    public void One_thread_and_two_give_bit_identical_weights() => Assert.Equal(Train(1), Train(2));
}
