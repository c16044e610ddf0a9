"""Actuators for PyTorch: a ``torch.optim`` optimizer (per param group: lr, weight_decay, betas, eps, momentum; the
global clip_norm; scheduler_scale and scheduler_drop over a torch LR scheduler) and a weighted multi-term loss.

Nothing here imports torch: the optimizer is driven through its ``param_groups`` and the scheduler through its
``base_lrs``, so the package stays importable without it.
"""
from . import dials as K
from .dials import LossDials

_GROUP_KEYS = {K.WEIGHT_DECAY: "weight_decay", K.EPS: "eps", K.MOMENTUM: "momentum"}


class TorchOptimizer:
    """The ``opt`` module's view of a ``torch.optim`` optimizer.

    Setting ``lr`` writes the group's rate now; a chainable torch scheduler (StepLR, CosineAnnealingLR, …) goes on from
    it, and its ``base_lrs`` move by the same factor, so the schedule is rebased as the protocol says.
    ``scheduler_scale`` multiplies the schedule (setting it again replaces it; 1 restores it); ``scheduler_drop``
    multiplies the rate once. ``clip_norm`` is read by ``clip(parameters)``, which the loop calls before ``step()``.
    """

    def __init__(self, optimizer, scheduler=None, group_names=None):
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.kind = type(optimizer).__name__.lower()
        groups = optimizer.param_groups
        if group_names is None:
            group_names = [str(g.get("name", i)) for i, g in enumerate(groups)]
        self.groups = list(group_names)
        self._scale = [1.0] * len(groups)
        self.clip_norm = 0.0

    def supports(self, key):
        g = self.optimizer.param_groups[0]
        if key in (K.LR, K.SCHEDULER_SCALE, K.CLIP_NORM):
            return True
        if key in (K.BETA1, K.BETA2):
            return "betas" in g
        return _GROUP_KEYS.get(key) in g

    def lr_of(self, g):
        return None

    def get(self, g, key, step):
        if key == K.CLIP_NORM:
            return self.clip_norm
        if key == K.SCHEDULER_SCALE:
            return self._scale[g]
        group = self.optimizer.param_groups[g]
        if key == K.LR:
            return float(group["lr"])
        if key == K.BETA1:
            return float(group["betas"][0])
        if key == K.BETA2:
            return float(group["betas"][1])
        return float(group[_GROUP_KEYS[key]])

    def set(self, g, key, value, step):
        if key == K.CLIP_NORM:
            self.clip_norm = value
            return
        group = self.optimizer.param_groups[g]
        if key == K.LR:
            self._rescale(g, value / group["lr"] if group["lr"] else None)
            group["lr"] = value
        elif key == K.SCHEDULER_SCALE:
            old = self._scale[g]
            if old == 0:
                raise RuntimeError("cannot change scheduler_scale from 0: the schedule's rate was lost; set lr instead")
            group["lr"] = group["lr"] * value / old
            self._rescale(g, value / old)
            self._scale[g] = value
        elif key == K.BETA1:
            group["betas"] = (value, group["betas"][1])
        elif key == K.BETA2:
            group["betas"] = (group["betas"][0], value)
        else:
            group[_GROUP_KEYS[key]] = value

    def _rescale(self, g, factor):
        if self.scheduler is not None and hasattr(self.scheduler, "base_lrs") and factor is not None:
            self.scheduler.base_lrs[g] *= factor

    def clip(self, parameters):
        """Clips gradients to ``clip_norm`` (when set); returns the total norm before clipping, or None."""
        if not self.clip_norm:
            return None
        import torch
        return float(torch.nn.utils.clip_grad_norm_(parameters, self.clip_norm))


class WeightedLoss(LossDials):
    """A weighted multi-term loss: ``combine(step, {"cls": l1, "aux": l2})`` is Σ weight × ramp(step) × term, each
    weight steerable (``kiln --dir … loss set_params aux_w=0.2``), each term switchable and rampable."""

    def weight(self, term, step):
        return self.effective(term, step)

    def combine(self, step, losses):
        total = None
        for term, value in losses.items():
            w = self.effective(term, step)
            part = value * w
            total = part if total is None else total + part
        return total
