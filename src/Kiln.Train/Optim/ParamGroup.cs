using Kiln.Modules.Opt;
using Kiln.Train.Tensors;

namespace Kiln.Train.Optim;

/// <summary>Parameters that share hyper-parameters (the backbone at a small learning rate, the head at a large one).</summary>
public sealed class ParamGroup(string name, IEnumerable<Tensor> parameters, double lr, LrSchedule? schedule = null)
    : GroupDials(name, lr, schedule)
{
    public IReadOnlyList<Tensor> Params { get; } = parameters.ToList();
    public double Dampening { get; set; }
    public bool Nesterov { get; set; }

    /// <summary>Skipped by the optimizer (a frozen backbone): its parameters neither move nor build state.</summary>
    public bool Frozen { get; set; }
}
