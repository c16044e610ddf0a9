namespace Kiln.Autobench;

/// <summary>
/// Something outside the training that steers a benchmark run only through its inbox (the autopilot, ReduceLROnPlateau).
/// <see cref="ControllerPacer"/> calls <see cref="Poll"/> at every validation, after the metrics are on disk.
/// </summary>
public interface IBenchController
{
    /// <summary>Reads what the run reported since the last call and writes its commands, if any, to the inbox.</summary>
    void Poll();

    /// <summary>Commands sent so far.</summary>
    int Actions { get; }
}
