using Kiln.Modules;
using Kiln.Protocol;

namespace Kiln.Autobench;

/// <summary>
/// Runs a benchmark run's controller in step with its training: a kernel module that takes no commands but listens to
/// the safe points, and at every <c>val_epoch_end</c> flushes the metrics and polls the controller. Its commands are
/// read at the next safe point (the kernel reads the inbox at every one), so a run steers the same way on a loaded
/// machine as on an idle one — which <see cref="Kiln.Autopilot.Engine.AutopilotRunner"/>'s half-second polling, meant
/// for runs of minutes, would not give runs of seconds.
/// </summary>
public sealed class ControllerPacer : IKernelModule
{
    public string Name => "bench";

    /// <summary>The controller, set once the run directory exists.</summary>
    public IBenchController? Controller { get; set; }

    /// <summary>Puts the metrics written so far on disk, where the controller reads them.</summary>
    public Action? Flush { get; set; }

    public void Attach(IModuleHost host) => host.Listen(this, true);

    public OpResult Apply(Command command, OpContext context) => OpResult.Rejected("module bench takes no commands");

    public void OnSafePoint(string evt, KernelEnv env)
    {
        if (evt != "val_epoch_end" || Controller is null) return;
        Flush?.Invoke();
        Controller.Poll();
    }
}
