using Kiln.Modules.Opt;
using Kiln.Train.Data;
using Kiln.Train.Nn;
using Kiln.Train.Optim;
using Kiln.Train.Tensors;

namespace Kiln.Autobench.Pbt;

/// <summary>One member of a population: its model, its Adam, its own batches, and the learning rate it trains at.</summary>
public sealed class PbtMember
{
    public PbtMember(int index, Module model, Dataset train, int batchSize, double lr, long seed)
    {
        Index = index;
        Model = model;
        Optimizer = new Adam([new ParamGroup("0", model.Parameters(), lr)]);
        Batcher = new Batcher(train, batchSize, shuffle: true, seed);
    }

    public int Index { get; }
    public Module Model { get; }
    public Optimizer Optimizer { get; }
    public Batcher Batcher { get; }
    public double Lr => Optimizer.ParamGroups[0].Lr.At(0);

    /// <summary>The last validation accuracy: the member's score.</summary>
    public double Score { get; set; } = double.NaN;

    public void SetLr(double lr, long step) => Optimizer.Set(0, OptimizerKey.Lr, lr, step);

    /// <summary>PBT's exploit: the weights and the optimizer's state (buffers, update count, dials) of <paramref name="donor"/>, copied.</summary>
    public void CopyFrom(PbtMember donor)
    {
        Model.LoadStateDict(donor.Model.StateDict());
        var buffers = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var state = donor.Optimizer.SaveState(buffers);
        Optimizer.RestoreState(state, buffers, $"pbt member {donor.Index}");
        Score = donor.Score;
    }
}
