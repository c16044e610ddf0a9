using System.Text.Json.Nodes;
using Kiln.Callbacks;
using Kiln.Kernel;
using Kiln.Modules.Callbacks;
using Kiln.Protocol;
using Kiln.Train.Nn;
using Kiln.Modules;

namespace Kiln.Callbacks;

/// <summary>
/// Gradient-norm statistics every <c>every</c> steps: the L2 norm of each parameter's gradient
/// (<c>grad_norm/1.weight</c>, …) and their largest (<c>grad_norm_max</c>), from the model in <c>env.Model</c>.
/// </summary>
public sealed class GradientNorms(string id, int every = 50) : IKilnCallback
{
    public string Id { get; } = id;
    public int Every { get; private set; } = CallbackParams.Every(every);

    public void Handle(string evt, KernelEnv env)
    {
        if (evt != "train_step_end" || env.Step % Every != 0 || env.Model is not Module model) return;
        var values = new List<(string, double)>();
        double max = 0;
        foreach (var (name, p) in model.NamedParameters())
        {
            if (p.Grad is not { } g) continue;
            var norm = Math.Sqrt(TensorPrimitives.SumOfSquares(g.Span));
            values.Add(("grad_norm/" + name, norm));
            max = Math.Max(max, norm);
        }
        values.Add(("grad_norm_max", max));
        env.Emit([.. values]);
    }

    public void SetParams(JsonObject parameters)
    {
        JsonValues.RejectUnknownKeys(parameters, ["every"], "");
        if (parameters["every"] is { } e) Every = CallbackParams.Every((int)JsonValues.GetLong(e, "every"));
    }
}
