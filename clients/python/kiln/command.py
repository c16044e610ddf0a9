"""A change to a run — an inbox command (``kiln.commands.jsonl``) or a recipe entry (``kiln.recipe.jsonl``) — read
with every field's type checked; an unknown field is an error, not silently dropped."""
from ._json import (ProtocolError, get_bool, get_double, get_long, get_object, get_string, optional_string,
                    reject_unknown_keys)

SHIPPED_MODULES = ["core", "cb", "opt", "loss", "tune"]
MAX_CID_LENGTH = 256
TARGET_KINDS = ["type", "assembly", "file"]
_COMMAND_FIELDS = ["cid", "ts", "source", "module", "op", "id", "params", "target", "init", "enabled", "time_budget_s"]
_RECIPE_FIELDS = ["at", "module", "op", "id", "params", "target", "init", "enabled", "time_budget_s", "source_capture"]


class Command:
    __slots__ = ("cid", "ts", "source", "module", "op", "id", "params", "target", "init", "enabled",
                 "time_budget_s", "source_capture", "step", "event")

    def __init__(self, module, op, id=None, params=None, target=None, init=None, enabled=None, cid=None, ts=None,
                 source=None, time_budget_s=None, source_capture=None, step=None, event=None):
        self.module, self.op, self.id, self.params = module, op, id, params
        self.target, self.init, self.enabled = target, init, enabled
        self.cid, self.ts, self.source = cid, ts, source
        self.time_budget_s, self.source_capture = time_budget_s, source_capture
        self.step, self.event = step, event

    def ledger_params(self):
        """The ledger's ``params``: as received; for ``cb load``, ``{target, init, enabled}``."""
        if self.op == "load" and self.target is not None:
            p = {"target": self.target, "init": self.init, "enabled": self.enabled}
            if self.time_budget_s is not None:
                p["time_budget_s"] = self.time_budget_s
            return p
        return self.params

    def to_recipe(self):
        o = {"at": {"step": self.step, "event": self.event}, "module": self.module, "op": self.op, "id": self.id}
        self._write_arguments(o)
        if self.source_capture is not None:
            o["source_capture"] = self.source_capture
        return o

    def _write_arguments(self, o):
        for key in ("params", "target", "init", "enabled", "time_budget_s"):
            v = getattr(self, key)
            if v is not None:
                o[key] = v

    def _read_arguments(self, o):
        self.id = optional_string(o, "id")
        self.params = None if o.get("params") is None else get_object(o["params"], "params")
        self.target = None if o.get("target") is None else read_target(o["target"], "target")
        self.init = None if o.get("init") is None else get_object(o["init"], "init")
        self.enabled = None if o.get("enabled") is None else get_bool(o["enabled"], "enabled")
        if o.get("source_capture") is not None:
            sc = get_object(o["source_capture"], "source_capture")
            reject_unknown_keys(sc, ["sha256", "captured_path"], "source_capture: ")
            self.source_capture = {"sha256": get_string(sc.get("sha256"), "source_capture.sha256"),
                                   "captured_path": get_string(sc.get("captured_path"), "source_capture.captured_path")}
        self.time_budget_s = None if o.get("time_budget_s") is None else get_double(o["time_budget_s"], "time_budget_s")
        return self


def read_target(node, key):
    o = get_object(node, key)
    reject_unknown_keys(o, ["kind", "path", "symbol"], key + ": ")
    kind = get_string(o.get("kind"), key + ".kind")
    if kind not in TARGET_KINDS and kind != "instance":
        raise ProtocolError(f"{key}.kind: unknown kind \"{kind}\" (known: {', '.join(TARGET_KINDS)})")
    path = get_string(o.get("path"), key + ".path")
    if not path:
        raise ProtocolError(f"{key}.path: must not be empty")
    return {"kind": kind, "path": path, "symbol": optional_string(o, "symbol", key + ".")}


def command_from_json(node):
    if not isinstance(node, dict):
        from ._json import show
        raise ProtocolError(f"expected a JSON object, got {show(node)}")
    reject_unknown_keys(node, _COMMAND_FIELDS, "")
    if node.get("module") is None:
        raise ProtocolError(f"module: missing (one of {', '.join(SHIPPED_MODULES)})")
    module = get_string(node["module"], "module")
    if node.get("op") is None:
        raise ProtocolError("op: missing")
    op = get_string(node["op"], "op")
    cid = optional_string(node, "cid")
    if cid is not None and len(cid) > MAX_CID_LENGTH:
        raise ProtocolError(f"cid: {len(cid)} characters is too long (at most {MAX_CID_LENGTH})")
    c = Command(module, op, cid=cid, source=optional_string(node, "source"),
                ts=None if node.get("ts") is None else get_double(node["ts"], "ts"))
    return c._read_arguments(node)


def recipe_entry_from_json(node):
    o = get_object(node, "recipe entry")
    reject_unknown_keys(o, _RECIPE_FIELDS, "")
    if o.get("at") is None:
        raise ProtocolError("at: missing (needs {step, event})")
    at = get_object(o["at"], "at")
    reject_unknown_keys(at, ["step", "event"], "at: ")
    if at.get("step") is None:
        raise ProtocolError("at.step: missing")
    step = get_long(at["step"], "at.step")
    if step < 0:
        raise ProtocolError(f"at.step: must be >= 0, got {step}")
    if at.get("event") is None:
        raise ProtocolError("at.event: missing")
    event = get_string(at["event"], "at.event")
    if o.get("module") is None:
        raise ProtocolError("module: missing")
    module = get_string(o["module"], "module")
    if module == "core":
        raise ProtocolError(f"module: \"{module}\" cannot be replayed (its ops control the kernel; recipes hold changes to the run)")
    if o.get("op") is None:
        raise ProtocolError("op: missing")
    c = Command(module, get_string(o["op"], "op"), step=step, event=event)
    return c._read_arguments(o)
