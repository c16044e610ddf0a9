using System.Globalization;
using Kiln.Kernel;
using Kiln.Modules.Loss;
using Kiln.Modules.Opt;
using Kiln.Runs;

// A training loop of one's own, as a user writes it with KilnRun, for the SIGKILL probe: it trains in the run directory it
// is given, the kernel applying commands at every step, until it is stopped (SIGTERM) or killed. Started again on the same
// directory it goes on where the killed one left the ledger, as a trainer resuming from a checkpoint does.
// Usage: Kiln.ProbeTrainer RUN_DIR [STEP_DELAY_MS]; prints "started" once it holds the run.
if (args.Length is < 1 or > 2)
{
    Console.Error.WriteLine("usage: Kiln.ProbeTrainer RUN_DIR [STEP_DELAY_MS]");
    return 2;
}
var delay = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1;
using var run = KilnRun.Start(args[0], new RunOptions
{
    Config = "probe",
    GitDirectory = null,
    Kernel = new KernelOptions { PollInterval = TimeSpan.Zero },
});
run.AddOptimizer(new OptimizerDials("adamw", 0.01));
run.AddLoss(new LossDials([("cls", 1.0), ("recon", 0.5)]));
Console.WriteLine("started");
for (long step = 0; !run.StopRequested; step++)
{
    run.Log(step, [("train_loss", 1.0 / (step + 1))]);
    run.Apply(step);
    Thread.Sleep(delay);
}
run.End();
return 0;
