using Kiln.Modules.Opt;
using Kiln.Train.Tensors;

namespace Kiln.Train.Optim;

/// <summary>Parameters that share hyper-parameters (the backbone at a small learning rate, the head at a large one).</summary>
public sealed class ParamGroup
{
    public ParamGroup(string name, IEnumerable<Tensor> parameters, double lr, LrSchedule? schedule = null)
    {
        Name = name;
        Params = parameters.ToList();
        Lr = new ScheduledLr(lr, schedule);
    }

    public string Name { get; }
    public IReadOnlyList<Tensor> Params { get; }
    public ScheduledLr Lr { get; }
    public double WeightDecay { get; set; }
    public double Beta1 { get; set; } = 0.9;
    public double Beta2 { get; set; } = 0.999;
    public double Eps { get; set; } = 1e-8;
    public double Momentum { get; set; }
    public double Dampening { get; set; }
    public bool Nesterov { get; set; }

    /// <summary>Skipped by the optimizer (a frozen backbone): its parameters neither move nor build state.</summary>
    public bool Frozen { get; set; }
}
