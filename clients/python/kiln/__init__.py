"""Kiln for PyTorch scripts: the run-directory protocol (docs/protocol.md) in Python, standard library only.

    import kiln
    with kiln.Run("runs/x") as run:
        run.add_optimizer(opt)                 # torch.optim optimizer (or kiln.dials.OptimizerDials)
        run.add_loss({"cls": 1.0, "aux": 0.5}) # weighted multi-term loss: run.loss.weight("aux", step)
        for step in range(steps):
            ...
            run.log(step, {"train_loss": loss.item()})
            run.apply(step, "train_step_end")
        run.end()
"""
from ._json import ProtocolError
from .dials import LossDials, LossRamp, OptimizerDials
from .kernel import Kernel, KernelEnv
from .ledger import LedgerUnavailable
from .replay import ReplayMissed
from .run import Run

__all__ = ["Run", "Kernel", "KernelEnv", "OptimizerDials", "LossDials", "LossRamp", "ProtocolError",
           "LedgerUnavailable", "ReplayMissed"]
__version__ = "0.1.0"
