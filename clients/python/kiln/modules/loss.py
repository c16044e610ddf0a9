"""The ``loss`` module: ``set_params`` on loss handles — ``<term>_w`` (weight), ``terms.<term>`` (on/off),
``ramps.<term>`` (a ramp, or null to remove it)."""
from .._json import ProtocolError, check_bounds, get_bool, get_double
from ..dials import LossRamp
from .handle import HandleModule

DEFAULT_WEIGHT_BOUNDS = (0, 100)


class LossModule(HandleModule):
    def __init__(self):
        super().__init__("loss", "loss")
        self._bounds = {}

    def set_bounds(self, bounds):
        for k in bounds:
            if not k.endswith("_w") or len(k) < 3:
                raise ProtocolError(f"loss.bounds.{k}: bounds apply to weight keys (<term>_w)")
        self._bounds = dict(bounds)

    def _bounds_of(self, key):
        return self._bounds.get(key, DEFAULT_WEIGHT_BOUNDS)

    def plan(self, act, p, ctx, steps, errors):
        for key, value in p.items():
            try:
                steps.append(self._validate(act, key, value, ctx))
            except ProtocolError as ex:
                errors.append(str(ex))
        return None

    def _validate(self, act, key, value, ctx):
        if key.startswith("terms."):
            term = _check_term(act, key, key[len("terms."):])
            on = get_bool(value, key)

            def switch(applied):
                act.set_enabled(term, on)
                applied[key] = on
            return switch
        if key.startswith("ramps."):
            term = _check_term(act, key, key[len("ramps."):])
            max_steps = getattr(ctx.env, "max_steps", None) if ctx.env is not None else None
            ramp = None if value is None else LossRamp.from_json(value, key, ctx.step_or_zero, max_steps)

            def set_ramp(applied):
                act.set_ramp(term, ramp)
                applied[key] = None if ramp is None else ramp.to_json()
            return set_ramp
        if key.endswith("_w") and len(key) > 2:
            term = _check_term(act, key, key[:-2])
            w = get_double(value, key)
            error = check_bounds(key, w, self._bounds_of(key))
            if error:
                raise ProtocolError(error)

            def weigh(applied):
                act.set_weight(term, w)
                applied[key] = w
            return weigh
        raise ProtocolError(f"{key}: unknown key (use <term>_w, terms.<term> or ramps.<term>; terms: {', '.join(act.terms)})")

    def describe(self, into, step):
        for id_, act, enabled in self.handles():
            for term in act.terms:
                wkey = term + "_w"
                lo, hi = self._bounds_of(wkey)
                into.append({"module": "loss", "id": id_, "key": wkey, "type": "float", "min": lo, "max": hi,
                             "value": act.get_weight(term), "enabled": enabled})
                into.append({"module": "loss", "id": id_, "key": "terms." + term, "type": "bool",
                             "value": act.is_enabled(term), "enabled": enabled})
                ramp = act.get_ramp(term)
                d = {"module": "loss", "id": id_, "key": "ramps." + term, "type": "ramp",
                     "value": None if ramp is None else ramp.to_json(), "enabled": enabled}
                if ramp is not None:
                    d["info"] = {"factor_now": ramp.at(step)}
                into.append(d)


def _check_term(act, key, term):
    if term in act.terms:
        return term
    raise ProtocolError(f"{key}: no loss term '{term}' (terms: {', '.join(act.terms)})")
