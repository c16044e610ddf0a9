using Kiln.Modules.Opt;
using Kiln.Train.Autograd;
using Kiln.Train.Data;
using Kiln.Train.Nn;
using Kiln.Train.Optim;
using Kiln.Train.Runs;
using Kiln.Train.Tensors;

namespace Kiln.Train.Tests;

/// <summary>Schedule-Free AdamW against the paper's z/x/y sequences written out by hand, and on a small classifier.</summary>
public sealed class ScheduleFreeAdamWTests
{
    private static Tensor Param(params float[] values) => new([values.Length], values) { RequiresGrad = true };

    /// <summary>The paper's form, with x kept explicitly (the optimizer keeps only y and z).</summary>
    private sealed class Reference(double[] start, double lr, long warmup, double wd, double b1 = 0.9, double b2 = 0.999, double eps = 1e-8)
    {
        public readonly double[] X = (double[])start.Clone();
        public readonly double[] Z = (double[])start.Clone();
        public readonly double[] Y = (double[])start.Clone();
        private readonly double[] _v = new double[start.Length];
        private double _lrMax, _weightSum;
        private int _t;

        public void Step(float[] g)
        {
            _t++;
            var lrT = lr * Math.Min(1.0, warmup == 0 ? 1.0 : (double)_t / warmup);
            _lrMax = Math.Max(_lrMax, lrT);
            _weightSum += _lrMax * _lrMax;
            var c = _lrMax * _lrMax / _weightSum;
            for (var i = 0; i < X.Length; i++)
            {
                _v[i] = b2 * _v[i] + (1 - b2) * g[i] * g[i];
                var d = g[i] / (Math.Sqrt(_v[i] / (1 - Math.Pow(b2, _t))) + eps) + wd * Y[i];
                Z[i] -= lrT * d;
                X[i] = (1 - c) * X[i] + c * Z[i];
                Y[i] = (1 - b1) * Z[i] + b1 * X[i];
            }
        }
    }

    [Fact]
    public void Steps_follow_the_z_x_y_sequences_with_warmup_and_weight_decay_at_y()
    {
        var start = new[] { 1f, -2f, 0.5f };
        var p = Param(start);
        var opt = new ScheduleFreeAdamW([new ParamGroup("0", [p], 0.01) { WeightDecay = 0.1 }], warmupSteps: 3);
        var reference = new Reference([.. start.Select(v => (double)v)], 0.01, 3, 0.1);
        for (var t = 0; t < 5; t++)
        {
            float[] g = [(float)Math.Cos(t), 0.5f - t, (float)Math.Sin(3 * t)];
            p.Grad = new Tensor([3], (float[])g.Clone());
            opt.Step(t);
            reference.Step(g);
            for (var i = 0; i < 3; i++) Assert.Equal(reference.Y[i], p.Data[i], 5);
        }

        opt.Eval();                                             // evaluation sees x
        for (var i = 0; i < 3; i++) Assert.Equal(reference.X[i], p.Data[i], 5);
        Assert.Throws<InvalidOperationException>(() => opt.Step(5));
        opt.Train();                                            // and training goes on from y
        for (var i = 0; i < 3; i++) Assert.Equal(reference.Y[i], p.Data[i], 5);
    }

    [Fact]
    public void A_checkpoint_continues_the_same_sequence_bit_for_bit()
    {
        float[] G(int t) => [(float)Math.Cos(t), 0.5f - t, (float)Math.Sin(3 * t)];
        ScheduleFreeAdamW Make(Tensor p) => new([new ParamGroup("0", [p], 0.01) { WeightDecay = 0.1 }], warmupSteps: 3);
        var straight = Param(1f, -2f, 0.5f);
        var a = Make(straight);
        for (var t = 0; t < 6; t++)
        {
            straight.Grad = new Tensor([3], G(t));
            a.Step(t);
        }

        var first = Param(1f, -2f, 0.5f);
        var b = Make(first);
        for (var t = 0; t < 3; t++)
        {
            first.Grad = new Tensor([3], G(t));
            b.Step(t);
        }
        var buffers = new Dictionary<string, Tensor>();
        var state = b.SaveState(buffers);
        var resumed = Param([.. first.Data]);
        var c = Make(resumed);
        c.RestoreState(state, buffers, "checkpoint");
        for (var t = 3; t < 6; t++)
        {
            resumed.Grad = new Tensor([3], G(t));
            c.Step(t);
        }
        Assert.Equal(straight.Data.ToArray(), resumed.Data.ToArray());

        b.Eval();
        Assert.Throws<InvalidOperationException>(() => b.SaveState(new Dictionary<string, Tensor>()));
    }

    [Fact]
    public void The_first_step_by_hand()
    {
        // t = 1, lr 0.0025, no warmup: v = 0.001·g², the normalised step is g/|g| = 1, c = 1 (x = z),
        // z = 1 − 0.0025, y = 0.1·z + 0.9·x = z.
        var p = Param(1f);
        var opt = new ScheduleFreeAdamW([new ParamGroup("0", [p], ScheduleFreeAdamW.DefaultLr)]);
        p.Grad = new Tensor([1], [4f]);
        opt.Step(0);
        Assert.Equal(0.9975, p.Data[0], 6);
        // t = 2, g = 4 again: v = 0.999·0.016 + 0.016 → √(v/(1−0.999²)) = 4, d = 1; z = 0.995; c = 1/2,
        // x = (0.9975 + 0.995)/2 = 0.99625; y = 0.1·0.995 + 0.9·0.99625 = 0.996125.
        p.Grad = new Tensor([1], [4f]);
        opt.Step(1);
        Assert.Equal(0.996125, p.Data[0], 5);
        opt.Eval();
        Assert.Equal(0.99625, p.Data[0], 5);
    }

    [Fact]
    public void Its_dials_are_the_kernels_actuator()
    {
        var p = Param(1f);
        IOptimizerActuator act = new ScheduleFreeAdamW([new ParamGroup("0", [p], 0.0025)]);
        Assert.True(act.Supports(OptimizerKey.Beta1));
        Assert.True(act.Supports(OptimizerKey.WeightDecay));
        act.Set(0, OptimizerKey.Lr, 0.001, 0);
        Assert.Equal(0.001, act.Get(0, OptimizerKey.Lr, 5), 12);
        Assert.Equal("sf_adamw", ((Optimizer)act).Kind);
    }

    [Fact]
    public void It_trains_a_small_classifier()
    {
        var data = Synthetic.Blobs(600, 3, [8], seed: 1, spread: 0.6f);
        var rng = Rng.For(1, "model");
        var model = new Sequential(new Linear(8, 16, rng), new ReLU(), new Linear(16, 3, rng));
        var opt = new ScheduleFreeAdamW([new ParamGroup("0", model.Parameters(), 0.01)], warmupSteps: 10);
        opt.Eval();
        var (before, _) = TrainingLoop.EvaluateClassifier(model, data);
        opt.Train();
        var batcher = new Batcher(data, 32, shuffle: true, seed: 1);
        for (var s = 0; s < 200; s++)
        {
            if (!batcher.Next(out var batch)) batcher.Next(out batch);
            opt.ZeroGrad();
            using var tape = new Tape();
            tape.Backward(Ops.SoftmaxCrossEntropy(model.Forward(batch!.X), batch.Labels));
            opt.Step(s);
        }
        opt.Eval();
        var (after, accuracy) = TrainingLoop.EvaluateClassifier(model, data);
        Assert.True(after < before / 3, $"loss {before} → {after}");
        Assert.True(accuracy > 0.9, $"accuracy {accuracy}");
    }
}
