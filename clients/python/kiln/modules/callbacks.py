"""The ``cb`` module: ``load``, ``enable``, ``disable``, ``set_params``, ``unload``, and the calls into enabled
callbacks at each safe point, their failures isolated (a callback that throws is disabled and ledgered; training goes on).

A callback follows seed 001's protocol: ``id``, ``handle(event, env)``, ``set_params(**kw)``, and optionally
``on_attach(env)`` and ``close()``. It loads from a Python file (target kind ``file``: the file is byte-copied to
``kiln.sources/<sha256>.py`` first and loaded from that copy, so a replay runs the same code) or from an importable
module (kind ``type``: ``package.module.Class``, or ``package.module`` with ``symbol``).
"""
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys

from .. import _files
from .._json import ProtocolError, format_number
from ..ledger import FAILED, OpResult

MAX_BUDGET_S = 1000000


class _Slot:
    __slots__ = ("id", "callback", "enabled", "target", "init", "params", "capture", "budget")

    def __init__(self, id_, callback, enabled, target, init=None, capture=None, budget=None):
        self.id, self.callback, self.enabled, self.target = id_, callback, enabled, target
        self.init, self.capture, self.budget = init, capture, budget
        self.params = {}


def check_budget(seconds, key):
    if not (seconds > 0 and seconds <= MAX_BUDGET_S):
        raise ProtocolError(f"{key}: a time budget is more than 0 and at most {MAX_BUDGET_S} s, got {format_number(seconds)}")
    return seconds


class CallbackModule:
    name = "cb"

    def __init__(self):
        self._slots = []
        self._enabled = []
        self._host = None
        self.default_budget = 30.0

    def attach(self, host):
        self._host = host

    def _find(self, id_):
        for s in self._slots:
            if s.id == id_:
                return s
        return None

    def is_enabled(self, id_):
        s = self._find(id_)
        return bool(s and s.enabled)

    def get(self, id_):
        s = self._find(id_)
        return s.callback if s else None

    def register(self, callback, enabled, env):
        """A callback the trainer registered in code."""
        id_ = getattr(callback, "id", None)
        if self._find(id_) is not None:
            return OpResult.rejected(f"id: a callback '{id_}' is already registered")
        target = {"kind": "instance", "path": _type_name(callback), "symbol": None}
        try:
            _attach(callback, env)
        except Exception as ex:
            return OpResult.failed(ex, notes="on_attach threw; the callback was not registered")
        self._slots.append(_Slot(id_, callback, enabled, target))
        self._rebuild()
        return OpResult.applied({"target": target, "enabled": enabled})

    def apply(self, command, ctx):
        id_ = command.id
        if not id_:
            return OpResult.rejected("id: a cb command needs the callback's id")
        if command.op == "load":
            return self._load(id_, command, ctx)
        if command.time_budget_s is not None:
            return OpResult.rejected(f"time_budget_s: only cb load takes a time budget (to change it, load cb:{id_} again with the new one)")
        slot = self._find(id_)
        known = "none loaded" if not self._slots else "loaded: " + ", ".join(s.id for s in self._slots)
        op = command.op
        if op in ("enable", "disable", "set_params", "unload") and slot is None:
            return OpResult.rejected(f"id: no callback '{id_}' ({known})")
        if op == "enable":
            if slot.enabled:
                return OpResult.noop(f"cb:{id_} is already enabled")
            slot.enabled = True
            self._rebuild()
            return OpResult.applied()
        if op == "disable":
            if not slot.enabled:
                return OpResult.noop(f"cb:{id_} is already disabled")
            slot.enabled = False
            self._rebuild()
            return OpResult.applied()
        if op == "set_params":
            if not command.params:
                return OpResult.rejected("params: nothing to set (give key=value pairs)")
            given = dict(command.params)
            try:
                slot.callback.set_params(**given)
            except (ProtocolError, TypeError, ValueError) as ex:
                # A bad value is the caller's error; anything else is the callback's failure.
                return OpResult.rejected(f"params: {type(ex).__name__}: {ex}")
            except Exception as ex:
                return OpResult.failed(ex, notes=self._disable_after_error(slot, ctx))
            slot.params.update(given)
            return OpResult.applied(dict(command.params))
        if op == "unload":
            error = _close(slot)
            self._slots.remove(slot)
            self._rebuild()
            return OpResult.applied(notes=error)
        return OpResult.rejected(f"op: unknown op \"{op}\" for module cb (known: load, enable, disable, set_params, unload)")

    def _load(self, id_, command, ctx):
        target = command.target
        if target is None:
            return OpResult.rejected("target: a load needs a target {kind, path, symbol}")
        if target["kind"] == "instance":
            return OpResult.rejected("target.kind: instances are registered in code, not loaded")
        own = None
        if command.time_budget_s is not None:
            try:
                own = check_budget(command.time_budget_s, "time_budget_s")
            except ProtocolError as ex:
                return OpResult.rejected(str(ex))
        try:
            callback, capture = _construct(id_, target, command.init, command.source_capture, ctx.files)
        except Exception as ex:
            return OpResult.failed(ex, notes="load failed; nothing changed")
        env = ctx.env if ctx.env is not None else {}
        try:
            _attach(callback, env)
        except Exception as ex:
            return OpResult.failed(ex, notes="on_attach threw; the callback was not attached")
        notes = None
        existing = self._find(id_)
        if existing is not None:
            error = _close(existing)
            self._slots.remove(existing)
            notes = "replaced the callback loaded before under this id" + ("" if error is None else "; " + error)
        enabled = True if command.enabled is None else command.enabled
        self._slots.append(_Slot(id_, callback, enabled, target, command.init, capture, own))
        self._rebuild()
        payload = {"target": target, "init": command.init, "enabled": enabled}
        if own is not None:
            payload["time_budget_s"] = command.time_budget_s
        if capture is not None:
            payload["source_capture"] = capture
        return OpResult.applied(payload, notes)

    def _disable_after_error(self, slot, ctx):
        if not ctx.auto_disable_on_error:
            return None
        slot.enabled = False
        self._rebuild()
        return f"cb:{slot.id} disabled after the error; `kiln cb enable {slot.id}` turns it back on"

    def on_safe_point(self, event, env):
        for slot in self._enabled:
            if not slot.enabled:
                continue
            try:
                slot.callback.handle(event, env)
            except Exception as ex:
                self._report_handle_failure(slot, event, env, ex)

    def _report_handle_failure(self, slot, event, env, ex):
        import traceback
        disable = self._host.auto_disable_on_error if self._host else True
        if disable:
            slot.enabled = False
            self._rebuild()
        result = OpResult(FAILED, error=f"handle({event}) threw {type(ex).__name__}: {ex}",
                          notes=(f"cb:{slot.id} disabled (auto_disable_on_error); `kiln cb enable {slot.id}` turns it back on"
                                 if disable else "auto_disable_on_error is off: the callback stays enabled"),
                          traceback="".join(traceback.format_exception(ex)))
        if self._host:
            self._host.report("cb", "handle", slot.id, result, env.get("step"), event, env)

    def close(self, step, env):
        for slot in self._slots:
            close = getattr(slot.callback, "close", None)
            if close is None:
                continue
            try:
                close()
            except Exception as ex:
                if self._host:
                    self._host.report("cb", "close", slot.id, OpResult.failed(ex), step, "run_end", env)
        self._slots.clear()
        self._rebuild()

    def _rebuild(self):
        self._enabled = [s for s in self._slots if s.enabled]
        if self._host:
            self._host.listen(self, bool(self._enabled))

    def describe(self, into, step):
        for s in self._slots:
            info = {"params": dict(s.params), "time_budget_s": s.budget if s.budget is not None else self.default_budget}
            if s.target is not None:
                info["target"] = s.target
            if s.capture is not None:
                info["source_capture"] = s.capture
            into.append({"module": "cb", "id": s.id, "key": "enabled", "type": "callback", "value": s.enabled,
                         "enabled": s.enabled, "info": info})

    def set_bounds(self, bounds):
        if bounds:
            raise ProtocolError(f"cb.bounds.{next(iter(bounds))}: unknown key (known: none)")


def _attach(callback, env):
    for required in ("handle", "set_params"):
        if not callable(getattr(callback, required, None)):
            raise TypeError(f"{_type_name(callback)} is not a callback: it has no {required}() (seed 001's protocol: id, handle(event, env), set_params(**kw))")
    on_attach = getattr(callback, "on_attach", None)
    if on_attach is not None:
        on_attach(env)


def _close(slot):
    close = getattr(slot.callback, "close", None)
    if close is None:
        return None
    try:
        close()
        return None
    except Exception as ex:
        return f"close threw: {type(ex).__name__}: {ex}"


def _type_name(obj):
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def capture_source(files, source):
    """Copies ``source`` into the run (``kiln.sources/<sha256>.py``, written once); returns the capture and the bytes."""
    try:
        with open(source, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ProtocolError(f"target.path: source file not found: {source}") from None
    sha = hashlib.sha256(data).hexdigest()
    relative = os.path.join(_files.SOURCES, sha + os.path.splitext(source)[1].lower())
    path = files.resolve(relative)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _files.write_atomic(path, data)
    return {"sha256": sha, "captured_path": relative}, data


def read_capture(files, capture):
    path = files.resolve(capture["captured_path"])
    if not os.path.exists(path):
        raise ProtocolError(f"source_capture: {capture['captured_path']} is missing from the run")
    with open(path, "rb") as f:
        data = f.read()
    sha = hashlib.sha256(data).hexdigest()
    if sha.lower() != capture["sha256"].lower():
        raise ProtocolError(f"source_capture: {capture['captured_path']} was modified (its sha256 is {sha}, the ledger recorded {capture['sha256']})")
    return data


def _construct(id_, target, init, capture, files):
    kind, path, symbol = target["kind"], target["path"], target.get("symbol")
    new_capture = None
    if kind == "file":
        if not path.endswith(".py"):
            raise ProtocolError(f"target.path: {path} is not a Python file (.py); this run's kernel is Python")
        if capture is not None:
            data = read_capture(files, capture)
            new_capture = capture
        else:
            new_capture, data = capture_source(files, path)
        module = _module_from_source(data, path, new_capture["sha256"])
        cls = _pick_class(module, symbol, path)
    elif kind == "type":
        module_name, cls_name = (path, symbol) if symbol else path.rsplit(".", 1) if "." in path else (path, None)
        if cls_name is None:
            raise ProtocolError(f"target.path: give package.module.Class, or the module with --symbol Class (got {path})")
        module = importlib.import_module(module_name)
        cls = getattr(module, cls_name, None)
        if cls is None:
            raise ProtocolError(f"target.symbol: {module_name} has no {cls_name}")
    else:
        raise ProtocolError(f"target.kind: {kind} targets are .NET code; this run's kernel is Python (known: file, type)")
    kwargs = dict(init or {})
    if "id" not in kwargs and "id" in _parameters(cls):
        kwargs["id"] = id_
    callback = cls(**kwargs)
    if getattr(callback, "id", None) is None:
        try:
            callback.id = id_
        except AttributeError:
            pass
    return callback, new_capture


def _parameters(cls):
    try:
        return inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return {}


def _module_from_source(data, path, sha):
    name = f"kiln_callback_{sha[:16]}"
    spec = importlib.util.spec_from_loader(name, loader=None, origin=path)
    module = importlib.util.module_from_spec(spec)
    module.__file__ = path
    code = compile(data, path, "exec")
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _pick_class(module, symbol, path):
    if symbol:
        cls = getattr(module, symbol, None)
        if cls is None:
            raise ProtocolError(f"target.symbol: {path} has no {symbol}")
        return cls
    found = [v for k, v in vars(module).items()
             if inspect.isclass(v) and v.__module__ == module.__name__ and callable(getattr(v, "handle", None))]
    if len(found) != 1:
        names = ", ".join(c.__name__ for c in found) or "none"
        raise ProtocolError(f"target.symbol: {path} has {len(found)} callback classes ({names}); name one with --symbol")
    return found[0]
