using Kiln.Modules.Opt;
using Kiln.Train.Optim;
using Kiln.Train.Tensors;

namespace Kiln.Train.Tests;

/// <summary>Optimizer updates against steps computed by hand (in double, from PyTorch's formulas).</summary>
public sealed class OptimizerTests
{
    private static Tensor Param(params float[] values) => new([values.Length], values) { RequiresGrad = true };

    private static void SetGrad(Tensor p, params float[] g) => p.Grad = new Tensor([g.Length], g);

    [Fact]
    public void Sgd_with_and_without_weight_decay()
    {
        var p = Param(1f, -2f);
        var sgd = new Sgd([new ParamGroup("0", [p], 0.1)]);
        SetGrad(p, 0.5f, 1f);
        sgd.Step(0);
        Assert.Equal([0.95f, -2.1f], p.ToArray());

        var q = Param(1f);
        var decayed = new Sgd([new ParamGroup("0", [q], 0.1) { WeightDecay = 0.1 }]);
        SetGrad(q, 0.5f);
        decayed.Step(0);
        Assert.Equal(1 - 0.1 * (0.5 + 0.1 * 1), q.Data[0], 6);
    }

    [Fact]
    public void Sgd_momentum_and_nesterov()
    {
        var p = Param(1f);
        var sgd = new Sgd([new ParamGroup("0", [p], 0.1) { Momentum = 0.9 }]);
        SetGrad(p, 1f);
        sgd.Step(0);                                         // buf = 1           → p = 1 − 0.1·1 = 0.9
        SetGrad(p, 0.5f);
        sgd.Step(1);                                         // buf = 0.9 + 0.5 = 1.4 → p = 0.9 − 0.14 = 0.76
        Assert.Equal(0.76, p.Data[0], 6);

        var n = Param(1f);
        var nesterov = new Sgd([new ParamGroup("0", [n], 0.1) { Momentum = 0.9, Nesterov = true }]);
        SetGrad(n, 1f);
        nesterov.Step(0);                                    // buf = 1; d = 1 + 0.9·1 = 1.9 → 0.81
        SetGrad(n, 0.5f);
        nesterov.Step(1);                                    // buf = 1.4; d = 0.5 + 1.26 = 1.76 → 0.634
        Assert.Equal(0.634, n.Data[0], 6);
    }

    private static double AdamStep(ref double p, ref double m, ref double v, double g, int t, double lr, double b1 = 0.9, double b2 = 0.999, double eps = 1e-8)
    {
        m = b1 * m + (1 - b1) * g;
        v = b2 * v + (1 - b2) * g * g;
        var denom = Math.Sqrt(v) / Math.Sqrt(1 - Math.Pow(b2, t)) + eps;
        p -= lr / (1 - Math.Pow(b1, t)) * m / denom;
        return p;
    }

    [Fact]
    public void Adam_matches_the_formula_over_several_steps()
    {
        var values = Enumerable.Range(0, 37).Select(i => (float)Math.Sin(i)).ToArray();     // past one vector width
        var p = Param(values);
        var adam = new Adam([new ParamGroup("0", [p], 0.01)]);
        var expected = values.Select(v => (double)v).ToArray();
        var m = new double[37];
        var v2 = new double[37];
        for (var t = 1; t <= 3; t++)
        {
            var grads = Enumerable.Range(0, 37).Select(i => (float)Math.Cos(i * t)).ToArray();
            SetGrad(p, grads);
            adam.Step(t - 1);
            for (var i = 0; i < 37; i++) AdamStep(ref expected[i], ref m[i], ref v2[i], grads[i], t, 0.01);
        }
        for (var i = 0; i < 37; i++) Assert.Equal(expected[i], p.Data[i], 5);
    }

    [Fact]
    public void Adam_adds_l2_to_the_gradient_and_adamw_decays_the_weights()
    {
        var a = Param(2f);
        var adam = new Adam([new ParamGroup("0", [a], 0.1) { WeightDecay = 0.5 }]);
        SetGrad(a, 1f);
        adam.Step(0);
        double pa = 2, ma = 0, va = 0;
        AdamStep(ref pa, ref ma, ref va, 1 + 0.5 * 2, 1, 0.1);
        Assert.Equal(pa, a.Data[0], 5);

        var w = Param(2f);
        var adamw = new Adam([new ParamGroup("0", [w], 0.1) { WeightDecay = 0.5 }], decoupledWeightDecay: true);
        SetGrad(w, 1f);
        adamw.Step(0);
        double pw = 2 * (1 - 0.1 * 0.5), mw = 0, vw = 0;
        AdamStep(ref pw, ref mw, ref vw, 1, 1, 0.1);
        Assert.Equal(pw, w.Data[0], 5);
        Assert.Equal("adamw", adamw.Kind);
    }

    [Fact]
    public void Clipping_scales_all_gradients_to_the_global_norm()
    {
        var a = Param(0f);
        var b = Param(0f);
        var sgd = new Sgd([new ParamGroup("x", [a], 1.0), new ParamGroup("y", [b], 1.0)]) { ClipNorm = 1.0 };
        SetGrad(a, 3f);
        SetGrad(b, 4f);
        var norm = sgd.Step(0);
        Assert.Equal(5.0, norm, 6);
        Assert.Equal(-0.6, a.Data[0], 5);
        Assert.Equal(-0.8, b.Data[0], 5);
    }

    [Fact]
    public void Groups_have_their_own_rates_and_frozen_groups_do_not_move()
    {
        var a = Param(1f);
        var b = Param(1f);
        var sgd = new Sgd([new ParamGroup("backbone", [a], 0.01), new ParamGroup("head", [b], 0.1)]);
        SetGrad(a, 1f);
        SetGrad(b, 1f);
        sgd.Step(0);
        Assert.Equal((0.99f, 0.9f), (a.Data[0], b.Data[0]));
        sgd.ParamGroups[0].Frozen = true;
        sgd.Step(1);
        Assert.Equal(0.99f, a.Data[0]);
        Assert.Equal(0.8, b.Data[0], 6);
    }

    [Fact]
    public void The_optimizer_is_the_kernels_actuator()
    {
        var p = Param(1f);
        var adam = new Adam([new ParamGroup("backbone", [p], 0.01, new StepSchedule(10, 0.5)), new ParamGroup("head", [], 0.1)]);
        IOptimizerActuator act = adam;
        Assert.Equal(["backbone", "head"], act.Groups);
        Assert.True(act.Supports(OptimizerKey.Beta1));
        Assert.False(act.Supports(OptimizerKey.Momentum));
        act.Set(0, OptimizerKey.Lr, 0.002, 10);                       // rebased at step 10 (factor 0.5)
        Assert.Equal(0.002, act.Get(0, OptimizerKey.Lr, 10), 12);
        Assert.Equal(0.001, act.Get(0, OptimizerKey.Lr, 20), 12);
        act.Set(1, OptimizerKey.Beta2, 0.99, 0);
        Assert.Equal(0.99, adam.ParamGroups[1].Beta2);
        act.Set(0, OptimizerKey.ClipNorm, 2.5, 0);
        Assert.Equal(2.5, adam.ClipNorm);
        Assert.False(new Sgd([new ParamGroup("0", [p], 0.1)]).Supports(OptimizerKey.Beta1));
    }
}
