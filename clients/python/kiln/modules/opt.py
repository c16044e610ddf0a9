"""The ``opt`` module: ``set_params`` on optimizer handles — lr, weight_decay, betas, eps, momentum, clip_norm,
scheduler_scale, scheduler_drop — for every group, one (``group``) or several (``groups: {name: {key: value}}``)."""
import math

from .. import dials as K
from .._json import ProtocolError, format_number, check_bounds, is_number, show, try_long
from ..ledger import OpResult
from .handle import HandleModule

VALUE, PAIR, GLOBAL, DROP = "value", "pair", "global", "drop"


class OptParam:
    __slots__ = ("name", "key", "shape", "bounds", "dial_type")

    def __init__(self, name, key, shape, bounds, dial_type):
        self.name, self.key, self.shape, self.bounds, self.dial_type = name, key, shape, bounds, dial_type

    @property
    def is_global(self):
        return self.shape == GLOBAL

    def supported_by(self, act):
        return act.supports(self.key) and (self.shape != PAIR or act.supports(K.BETA2))

    def read(self, value, bounds, where):
        """(error, a, b): the value checked against its type and bounds."""
        if self.shape == PAIR:
            if not (isinstance(value, list) and len(value) == 2 and is_number(value[0]) and is_number(value[1])):
                return f"{where}: expected [beta1, beta2], got {show(value)}", 0, 0
            a, b = float(value[0]), float(value[1])
            return check_bounds(where + "[0]", a, bounds) or check_bounds(where + "[1]", b, bounds), a, b
        if self.shape == GLOBAL and value is None:
            return None, 0.0, 0
        if not is_number(value):
            return f"{where}: expected a number, got {show(value)}", 0, 0
        a = float(value)
        if not math.isfinite(a):
            return f"{where}: expected a finite number, got {show(value)}", 0, 0
        return check_bounds(where, a, bounds), a, 0

    def apply(self, act, groups, a, b, step):
        if self.shape == GLOBAL:
            act.set(0, self.key, a, step)
            return
        for g in groups:
            if self.shape == PAIR:
                act.set(g, K.BETA1, a, step)
                act.set(g, K.BETA2, b, step)
            elif self.shape == DROP:
                act.set(g, K.LR, act.get(g, K.LR, step) * a, step)
            else:
                act.set(g, self.key, a, step)

    def show(self, a, b):
        return [a, b] if self.shape == PAIR else a

    def current(self, act, g, step):
        return self.show(act.get(g, self.key, step), act.get(g, K.BETA2, step) if self.shape == PAIR else 0)


P_LR = OptParam("lr", K.LR, VALUE, (0, 10), "log_float")
P_WD = OptParam("weight_decay", K.WEIGHT_DECAY, VALUE, (0, 10), "float")
P_BETAS = OptParam("betas", K.BETA1, PAIR, (0, 0.999999999), "pair")
P_EPS = OptParam("eps", K.EPS, VALUE, (0, 1), "log_float")
P_MOM = OptParam("momentum", K.MOMENTUM, VALUE, (0, 1), "float")
P_CLIP = OptParam("clip_norm", K.CLIP_NORM, GLOBAL, (0, 1e12), "float")
P_SCALE = OptParam("scheduler_scale", K.SCHEDULER_SCALE, VALUE, (0, 1000), "float")
P_DROP = OptParam("scheduler_drop", K.LR, DROP, (0, 1000), None)
ALL = [P_LR, P_WD, P_BETAS, P_EPS, P_MOM, P_CLIP, P_SCALE, P_DROP]
DIALS = [P_LR, P_WD, P_MOM, P_EPS, P_BETAS, P_SCALE, P_CLIP]
NAMES = [p.name for p in ALL]
_BY_NAME = {p.name: p for p in ALL}
DEFAULT_BOUNDS = {p.name: p.bounds for p in ALL}


class OptModule(HandleModule):
    def __init__(self):
        super().__init__("opt", "optimizer")
        self._bounds = dict(DEFAULT_BOUNDS)

    def check(self, act):
        if not act.groups:
            raise ValueError("an optimizer actuator needs at least one group")

    def set_bounds(self, bounds):
        merged = dict(DEFAULT_BOUNDS)
        for k, b in bounds.items():
            if k not in DEFAULT_BOUNDS:
                raise ProtocolError(f"opt.bounds.{k}: unknown key (known: {', '.join(DEFAULT_BOUNDS)})")
            merged[k] = b
        self._bounds = merged

    def plan(self, act, p, ctx, steps, errors):
        if "group" in p and "groups" in p:
            return OpResult.rejected("group, groups: give one or the other")
        plan = []
        targets = list(range(len(act.groups)))
        if "group" in p:
            g, error = _resolve_group(act, p["group"], "group")
            if g < 0:
                return OpResult.rejected(error)
            targets = [g]
        for key, value in p.items():
            if key in ("group", "groups"):
                continue
            error, param, a, b = self._validate(act, key, value, key)
            if error:
                errors.append(error)
            else:
                plan.append((targets, param, a, b, None))
        if "groups" in p:
            groups = p["groups"]
            if not isinstance(groups, dict) or not groups:
                return OpResult.rejected(f"groups: expected {{group: {{key: value}}}}, got {show(groups)}")
            for name, values in groups.items():
                g, error = _resolve_group(act, name, f"groups.{name}")
                if g < 0:
                    errors.append(error)
                    continue
                if not isinstance(values, dict) or not values:
                    errors.append(f"groups.{name}: expected {{key: value}}, got {show(values)}")
                    continue
                for key, value in values.items():
                    where = f"groups.{name}.{key}"
                    known = _BY_NAME.get(key)
                    if known is not None and known.is_global:
                        errors.append(f"{where}: {key} is global; set it without groups")
                        continue
                    if key in ("group", "groups"):
                        errors.append(f"{where}: selectors cannot nest")
                        continue
                    error, param, a, b = self._validate(act, key, value, where)
                    if error:
                        errors.append(error)
                    else:
                        plan.append(([g], param, a, b, name))
        if not plan:
            return None
        if "group" in p:
            group_value = p["group"]
            steps.append(lambda applied: applied.__setitem__("group", group_value))
        at = ctx.step_or_zero
        # Whole-optimizer keys first, then per-group ones; within each, the documented key order (stable).
        plan.sort(key=lambda s: (0 if s[4] is None else 1, ALL.index(s[1])))
        for s in plan:
            steps.append(_step(act, s, at))
        return None

    def _validate(self, act, key, value, where):
        param = _BY_NAME.get(key)
        if param is None:
            return f"{where}: unknown key (known: {', '.join(NAMES)}, group, groups)", None, 0, 0
        if not param.supported_by(act):
            return f"{where}: not supported by this optimizer ({act.kind})", None, 0, 0
        error, a, b = param.read(value, self._bounds[key], where)
        return error, param, a, b

    def describe(self, into, step):
        for id_, act, enabled in self.handles():
            for g, name in enumerate(act.groups):
                for dial in DIALS:
                    if not dial.is_global:
                        self._add(into, id_, enabled, name, dial, act, g, step)
            for dial in DIALS:
                if dial.is_global:
                    self._add(into, id_, enabled, None, dial, act, 0, step)

    def _add(self, into, id_, enabled, group, dial, act, g, step):
        if not dial.supported_by(act):
            return
        lo, hi = self._bounds[dial.name]
        d = {"module": self.name, "id": id_, "key": dial.name, "type": dial.dial_type}
        if group is not None:
            d["group"] = group
        d.update({"min": lo, "max": hi, "value": dial.current(act, g, step), "enabled": enabled})
        lr = act.lr_of(g) if dial is P_LR and hasattr(act, "lr_of") else None
        if lr is not None:
            d["info"] = {"base": lr.base_lr, "scale": lr.scale, "factor": lr.schedule.factor(step), "schedule": lr.schedule.to_json()}
        into.append(d)


def _step(act, s, at):
    groups, param, a, b, group_name = s

    def run(applied):
        param.apply(act, groups, a, b, at)
        value = param.show(a, b)
        if group_name is None:
            applied[param.name] = value
        else:
            applied.setdefault("groups", {}).setdefault(group_name, {})[param.name] = value
    return run


def _resolve_group(act, node, where):
    name = node if isinstance(node, str) else None
    if name is not None and name in act.groups:
        return act.groups.index(name), None
    index = try_long(node)
    if index is None and name is not None:
        try:
            index = int(name)
        except ValueError:
            index = None
    if index is not None and 0 <= index < len(act.groups):
        return index, None
    return -1, f"{where}: no group {show(node)} (groups: {', '.join(act.groups)})"
