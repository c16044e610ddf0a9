"""A module whose dials sit behind handles (``main`` by default), each of which can be switched off.

It answers ``enable``, ``disable`` and ``set_params`` with the checks and messages such modules share; a subclass
plans ``set_params`` (validate every key first, then apply) and describes its dials.
"""
from ..ledger import OpResult

DEFAULT_ID = "main"


class HandleModule:
    def __init__(self, name, noun):
        self.name = name
        self._noun = noun
        self._handles = {}  # id -> [actuator, enabled]

    def register(self, id_, actuator):
        self.check(actuator)
        self._handles[id_] = [actuator, True]

    def check(self, actuator):
        pass

    def is_enabled(self, id_):
        h = self._handles.get(id_)
        return bool(h and h[1])

    def handles(self):
        return [(id_, h[0], h[1]) for id_, h in self._handles.items()]

    def apply(self, command, ctx):
        id_ = command.id or DEFAULT_ID
        handle = self._handles.get(id_)
        if handle is None:
            if not self._handles:
                return OpResult.rejected(f"no {self._noun} actuator is registered in this run")
            return OpResult.rejected(f"id: no {self._noun} '{id_}' (known: {', '.join(self._handles)})")
        op = command.op
        if op == "enable":
            if handle[1]:
                return OpResult.noop(f"{self.name}:{id_} is already enabled")
            handle[1] = True
            return OpResult.applied()
        if op == "disable":
            if not handle[1]:
                return OpResult.noop(f"{self.name}:{id_} is already disabled")
            handle[1] = False
            return OpResult.applied()
        if op == "set_params":
            if not handle[1]:
                return OpResult.noop(f"{self.name}:{id_} is disabled; `kiln {self.name} enable --id {id_}` turns it back on")
            return self._set_params(id_, handle, command.params, ctx)
        return OpResult.rejected(f"op: unknown op \"{op}\" for module {self.name} (known: enable, disable, set_params)")

    def plan(self, actuator, params, ctx, steps, errors):
        """Validates without changing anything: valid keys become callables in ``steps`` (each applies its key and
        records it in the dict it is given), invalid ones messages in ``errors``. Returns a whole-command rejection or None."""
        raise NotImplementedError

    def _set_params(self, id_, handle, params, ctx):
        if not params:
            return OpResult.rejected("params: nothing to set (give key=value pairs)")
        steps, errors = [], []
        rejected = self.plan(handle[0], params, ctx, steps, errors)
        if rejected is not None:
            return rejected
        if not steps:
            return OpResult.rejected("; ".join(errors))
        applied = {}
        try:
            for step in steps:
                step(applied)
        except Exception as ex:  # an actuator that throws is isolated: the run goes on
            if ctx.auto_disable_on_error:
                handle[1] = False
                errors.insert(0, f"{self.name}:{id_} disabled after the error; `kiln {self.name} enable --id {id_}` turns it back on")
            return OpResult.failed(ex, applied, "; ".join(errors) if errors else None)
        return OpResult.applied(applied, "; ".join(errors) if errors else None)

    def set_bounds(self, bounds):
        raise NotImplementedError

    def describe(self, into, step):
        raise NotImplementedError

    def close(self, step, env):
        pass
