namespace Kiln.Modules.Loss;

/// <summary>
/// How the kernel reaches a composite loss: named terms, each with a weight, an on/off switch and an
/// optional ramp. The kernel validates values before calling a setter.
/// </summary>
public interface ILossActuator
{
    IReadOnlyList<string> Terms { get; }

    double GetWeight(string term);
    void SetWeight(string term, double weight);

    bool IsEnabled(string term);
    void SetEnabled(string term, bool enabled);

    LossRamp? GetRamp(string term);
    void SetRamp(string term, LossRamp? ramp);
}
