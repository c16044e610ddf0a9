"""Dials held as plain numbers: the reference optimizer and loss actuators, learning-rate schedules and loss ramps.

The same semantics as Kiln.Core's ``OptimizerDials``, ``ScheduledLr`` and ``LossRamp`` (docs/kernel.md): setting
``lr`` rebases the schedule, ``scheduler_scale`` sets a multiplier on it, ``scheduler_drop`` multiplies the base once.
"""
import math

from ._json import ProtocolError, format_number, get_double, get_long, get_object, get_string, reject_unknown_keys

# Optimizer keys, as Kiln.Core's OptimizerKey.
LR, WEIGHT_DECAY, BETA1, BETA2, EPS, MOMENTUM, SCHEDULER_SCALE, CLIP_NORM = (
    "lr", "weight_decay", "beta1", "beta2", "eps", "momentum", "scheduler_scale", "clip_norm")
ALL_KEYS = (LR, WEIGHT_DECAY, BETA1, BETA2, EPS, MOMENTUM, SCHEDULER_SCALE, CLIP_NORM)


class Schedule:
    """A learning-rate schedule as a factor of the base rate at each step."""

    def factor(self, step):
        return 1.0

    def to_json(self):
        return {"type": "constant"}

    @staticmethod
    def from_json(node, key="schedule"):
        o = get_object(node, key)
        kind = get_string(o.get("type"), key + ".type")
        if kind == "constant":
            reject_unknown_keys(o, ["type"], key + ": ")
            return Schedule()
        if kind == "step":
            reject_unknown_keys(o, ["type", "step_size", "gamma"], key + ": ")
            size = get_long(o.get("step_size"), key + ".step_size")
            if size <= 0:
                raise ProtocolError(f"{key}.step_size: must be > 0, got {size}")
            return StepSchedule(size, 0.1 if o.get("gamma") is None else get_double(o["gamma"], key + ".gamma"))
        if kind == "cosine":
            reject_unknown_keys(o, ["type", "total_steps", "warmup_steps", "min_factor"], key + ": ")
            total = get_long(o.get("total_steps"), key + ".total_steps")
            if total <= 0:
                raise ProtocolError(f"{key}.total_steps: must be > 0, got {total}")
            warm = 0 if o.get("warmup_steps") is None else get_long(o["warmup_steps"], key + ".warmup_steps")
            if warm < 0 or warm >= total:
                raise ProtocolError(f"{key}.warmup_steps: must be in [0, total_steps), got {warm}")
            return CosineSchedule(total, warm, 0.0 if o.get("min_factor") is None else get_double(o["min_factor"], key + ".min_factor"))
        raise ProtocolError(f"{key}.type: unknown schedule \"{kind}\" (known: constant, step, cosine, piecewise)")


class StepSchedule(Schedule):
    """Multiplies by ``gamma`` every ``step_size`` steps, like PyTorch's StepLR."""

    def __init__(self, step_size, gamma):
        self.step_size, self.gamma = step_size, gamma

    def factor(self, step):
        return self.gamma ** (max(0, step) // self.step_size)

    def to_json(self):
        return {"type": "step", "step_size": self.step_size, "gamma": self.gamma}


class CosineSchedule(Schedule):
    """Linear warm-up from 1/warmup to 1, then a half cosine down to ``min_factor`` at ``total_steps``."""

    def __init__(self, total_steps, warmup_steps=0, min_factor=0.0):
        self.total, self.warm, self.min = total_steps, warmup_steps, min_factor

    def factor(self, step):
        if step < self.warm:
            return (step + 1.0) / self.warm
        t = min(1.0, max(0.0, (step - self.warm) / max(1, self.total - self.warm)))
        return self.min + (1.0 - self.min) * 0.5 * (1.0 + math.cos(math.pi * t))

    def to_json(self):
        return {"type": "cosine", "total_steps": self.total, "warmup_steps": self.warm, "min_factor": self.min}


class ScheduledLr:
    """``lr(step) = base × scale × schedule(step)``."""

    def __init__(self, base_lr, schedule=None):
        self.base_lr = float(base_lr)
        self.scale = 1.0
        self.schedule = schedule or Schedule()

    def at(self, step):
        return self.base_lr * self.scale * self.schedule.factor(step)

    def rebase(self, lr, step):
        """Makes the rate at ``step`` equal ``lr``; later steps follow the schedule from there."""
        factor = self.scale * self.schedule.factor(step)
        if not factor > 0:
            raise RuntimeError(f"cannot set lr at step {step}: the schedule's factor there is {format_number(factor)}")
        self.base_lr = lr / factor


class GroupDials:
    def __init__(self, name, lr, schedule=None):
        self.name = name
        self.lr = ScheduledLr(lr, schedule)
        self.weight_decay = 0.0
        self.beta1 = 0.9
        self.beta2 = 0.999
        self.eps = 1e-8
        self.momentum = 0.0


class OptimizerDials:
    """Optimizer hyper-parameters as plain numbers, for loops that read them each step (``dials.lr_at(group, step)``).

    Also the reference optimizer actuator: ``groups``, ``kind``, ``supports(key)``, ``get(g, key, step)``,
    ``set(g, key, value, step)`` and ``lr_of(g)`` are what the ``opt`` module calls.
    """

    def __init__(self, kind, groups, supported=None):
        self.kind = kind
        if isinstance(groups, (int, float)):
            groups = [("0", groups, None)]
        self._groups = [GroupDials(str(name), lr, sched) for name, lr, sched in groups]
        if not self._groups:
            raise ValueError("an optimizer needs at least one group")
        self._supported = set(ALL_KEYS) if supported is None else set(supported) | {LR, SCHEDULER_SCALE}
        self.groups = [g.name for g in self._groups]
        self.clip_norm = 0.0

    def __getitem__(self, g):
        return self._groups[g]

    def lr_at(self, g, step):
        return self._groups[g].lr.at(step)

    def lr_of(self, g):
        return self._groups[g].lr

    def supports(self, key):
        return key in self._supported

    def get(self, g, key, step):
        if key == CLIP_NORM:
            return self.clip_norm
        d = self._groups[g]
        if key == LR:
            return d.lr.at(step)
        if key == SCHEDULER_SCALE:
            return d.lr.scale
        return getattr(d, key)

    def set(self, g, key, value, step):
        if key == CLIP_NORM:
            self.clip_norm = value
            return
        d = self._groups[g]
        if key == LR:
            d.lr.rebase(value, step)
        elif key == SCHEDULER_SCALE:
            d.lr.scale = value
        else:
            setattr(d, key, value)


RAMP_TYPES = ("linear", "cosine", "step", "exp")
_RAMP_FIELDS = ["type", "start_step", "warmup_frac", "end_step", "start", "end"]


class LossRamp:
    """A multiplier on a term's weight moving from ``start`` at ``start_step`` to ``end`` at ``end_step``, then holding."""

    __slots__ = ("type", "start_step", "end_step", "start", "end")

    def __init__(self, type_, start_step, end_step, start, end):
        self.type, self.start_step, self.end_step, self.start, self.end = type_, start_step, end_step, start, end

    def at(self, step):
        if step <= self.start_step:
            return self.start
        if step >= self.end_step:
            return self.end
        t = (step - self.start_step) / (self.end_step - self.start_step)
        if self.type == "linear":
            return self.start + (self.end - self.start) * t
        if self.type == "cosine":
            return self.start + (self.end - self.start) * 0.5 * (1 - math.cos(math.pi * t))
        if self.type == "step":
            return self.start
        return self.start * (self.end / self.start) ** t

    def to_json(self):
        return {"type": self.type, "start_step": self.start_step, "end_step": self.end_step, "start": self.start, "end": self.end}

    @staticmethod
    def from_json(node, key, now, max_steps):
        if isinstance(node, str):
            # `ramps.x='{"type":…}'` typed in a shell arrives as a string when the quotes were kept.
            import json
            try:
                node = json.loads(node)
            except ValueError:
                from ._json import show
                raise ProtocolError(f"{key}: expected a ramp object, got {show(node)}") from None
        o = get_object(node, key)
        reject_unknown_keys(o, _RAMP_FIELDS, key + ": ")
        if o.get("type") is None:
            raise ProtocolError(f"{key}.type: missing (one of {', '.join(RAMP_TYPES)})")
        kind = get_string(o["type"], key + ".type")
        if kind not in RAMP_TYPES:
            raise ProtocolError(f"{key}.type: unknown ramp \"{kind}\" (known: {', '.join(RAMP_TYPES)})")
        start_step = now if o.get("start_step") is None else get_long(o["start_step"], key + ".start_step")
        if start_step < 0:
            raise ProtocolError(f"{key}.start_step: must be >= 0, got {start_step}")
        if o.get("warmup_frac") is not None:
            if o.get("end_step") is not None:
                raise ProtocolError(f"{key}: give end_step or warmup_frac, not both")
            f = get_double(o["warmup_frac"], key + ".warmup_frac")
            if not (0 < f <= 1):
                raise ProtocolError(f"{key}.warmup_frac: must be in (0, 1], got {format_number(f)}")
            if not max_steps or max_steps <= 0:
                raise ProtocolError(f"{key}.warmup_frac: the run's max_steps is unknown, so give end_step instead")
            end_step = start_step + max(1, _round_half_even(f * max_steps))
        elif o.get("end_step") is not None:
            end_step = get_long(o["end_step"], key + ".end_step")
        else:
            raise ProtocolError(f"{key}: needs end_step or warmup_frac")
        if end_step <= start_step:
            raise ProtocolError(f"{key}.end_step: must be after start_step {start_step}, got {end_step}")
        start = 0.0 if o.get("start") is None else get_double(o["start"], key + ".start")
        end = 1.0 if o.get("end") is None else get_double(o["end"], key + ".end")
        if kind == "exp" and not (start > 0 and end > 0):
            raise ProtocolError(f"{key}: an exp ramp needs start > 0 and end > 0, got {format_number(start)} and {format_number(end)}")
        return LossRamp(kind, start_step, end_step, start, end)


def _round_half_even(x):
    return int(round(x))  # Python's round is banker's rounding, as .NET's Math.Round


class LossDials:
    """Loss-term weights, switches and ramps as plain values; ``effective(term, step)`` is each term's multiplier.

    Also the reference loss actuator (``terms``, ``get_weight``/``set_weight``, ``is_enabled``/``set_enabled``,
    ``get_ramp``/``set_ramp``).
    """

    def __init__(self, terms):
        items = list(terms.items()) if isinstance(terms, dict) else list(terms)
        if not items:
            raise ValueError("a loss needs at least one term")
        self._w, self._on, self._ramp = {}, {}, {}
        for name, weight in items:
            if name in self._w:
                raise ValueError(f"term '{name}' given twice")
            self._w[name], self._on[name], self._ramp[name] = float(weight), True, None
        self.terms = [name for name, _ in items]

    def effective(self, term, step):
        """weight × ramp(step), or 0 when the term is switched off."""
        if not self._on[term]:
            return 0.0
        r = self._ramp[term]
        return self._w[term] if r is None else self._w[term] * r.at(step)

    def get_weight(self, term):
        return self._w[term]

    def set_weight(self, term, w):
        self._w[term] = w

    def is_enabled(self, term):
        return self._on[term]

    def set_enabled(self, term, on):
        self._on[term] = on

    def get_ramp(self, term):
        return self._ramp[term]

    def set_ramp(self, term, ramp):
        self._ramp[term] = ramp
