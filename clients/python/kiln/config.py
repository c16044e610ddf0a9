"""``kiln.yaml``: applied as the run's baseline when the kernel starts, and each edit as ledgered changes (source
``yaml``) — only what changed. An edit made while frozen waits for the unfreeze; a file that does not parse is
rejected and the previous settings stay. The same plan as Kiln.Core's ConfigWatcher and ConfigReconciler."""
import os

from . import _files, _yaml
from ._json import (ProtocolError, get_bool, get_double, get_long, get_object, get_string, optional_string,
                    reject_unknown_keys, show)
from .command import Command, read_target
from .ledger import IGNORED_FREEZE, IGNORED_REPLAY, Moment, OpResult
from .modules.callbacks import check_budget

MAX_POLL_MS = 3600000


def _bounds(v, key):
    if not (isinstance(v, list) and len(v) == 2):
        raise ProtocolError(f"{key}: expected [min, max], got {show(v)}")
    lo, hi = get_double(v[0], key + "[0]"), get_double(v[1], key + "[1]")
    if lo > hi:
        from ._json import format_number
        raise ProtocolError(f"{key}: min {format_number(lo)} is above max {format_number(hi)}")
    return (lo, hi)


def parse_config(node, sections):
    o = get_object(node, "kiln.yaml")
    reject_unknown_keys(o, ["version", "kernel", "callbacks", *sections], "")
    if o.get("version") is None:
        raise ProtocolError("version: missing (write version: 1)")
    if get_long(o["version"], "version") != 1:
        raise ProtocolError(f"version: only version 1 is known, got {show(o['version'])}")
    kernel = {}
    if o.get("kernel") is not None:
        k = get_object(o["kernel"], "kernel")
        reject_unknown_keys(k, ["poll_interval_ms", "debounce_steps", "auto_disable_on_error", "callback_time_budget_s", "wait_for_disk_space"], "kernel: ")
        if k.get("poll_interval_ms") is not None:
            ms = get_double(k["poll_interval_ms"], "kernel.poll_interval_ms")
            if not 0 <= ms <= MAX_POLL_MS:
                raise ProtocolError(f"kernel.poll_interval_ms: must be from 0 to {MAX_POLL_MS} (an hour), got {show(k['poll_interval_ms'])}")
            kernel["poll_interval_ms"] = ms
        if k.get("debounce_steps") is not None:
            d = get_long(k["debounce_steps"], "kernel.debounce_steps")
            if not 1 <= d <= 2147483647:
                raise ProtocolError(f"kernel.debounce_steps: must be an integer from 1 to 2147483647, got {show(k['debounce_steps'])}")
            kernel["debounce_steps"] = d
        for b in ("auto_disable_on_error", "wait_for_disk_space"):
            if k.get(b) is not None:
                kernel[b] = get_bool(k[b], "kernel." + b)
        if k.get("callback_time_budget_s") is not None:
            kernel["callback_time_budget_s"] = check_budget(get_double(k["callback_time_budget_s"], "kernel.callback_time_budget_s"), "kernel.callback_time_budget_s")
    callbacks = {}
    if o.get("callbacks") is not None:
        for id_, value in get_object(o["callbacks"], "callbacks").items():
            where = f"callbacks.{id_}"
            c = get_object(value, where)
            reject_unknown_keys(c, ["target", "init", "enabled", "params", "time_budget_s"], where + ": ")
            if c.get("target") is None:
                raise ProtocolError(f"{where}.target: missing ({{kind, path, symbol}})")
            target = read_target(c["target"], where + ".target")
            if target["kind"] == "instance":
                raise ProtocolError(f"{where}.target.kind: instances are registered in code")
            callbacks[id_] = {
                "target": target,
                "init": None if c.get("init") is None else get_object(c["init"], where + ".init"),
                "enabled": c.get("enabled") is None or get_bool(c["enabled"], where + ".enabled"),
                "params": None if c.get("params") is None else get_object(c["params"], where + ".params"),
                "time_budget_s": None if c.get("time_budget_s") is None else check_budget(get_double(c["time_budget_s"], where + ".time_budget_s"), where + ".time_budget_s"),
            }
    modules = {}
    for name in sections:
        m = o.get(name)
        if m is None:
            modules[name] = _empty()
            continue
        m = get_object(m, name)
        reject_unknown_keys(m, ["id", "enabled", "params", "bounds"], name + ": ")
        bounds = {}
        if m.get("bounds") is not None:
            for k, v in get_object(m["bounds"], name + ".bounds").items():
                bounds[k] = _bounds(v, f"{name}.bounds.{k}")
        modules[name] = {"id": optional_string(m, "id", name + ".") or "main",
                         "enabled": m.get("enabled") is None or get_bool(m["enabled"], name + ".enabled"),
                         "params": {} if m.get("params") is None else dict(get_object(m["params"], name + ".params")),
                         "bounds": bounds}
    return {"kernel": kernel, "callbacks": callbacks, "modules": modules}


def _empty():
    return {"id": "main", "enabled": True, "params": {}, "bounds": {}}


EMPTY = {"kernel": {}, "callbacks": {}, "modules": {}}


def plan(previous, next_):
    """(settings or None, [(module, bounds)], [(command, if_loaded)]): the changes from one version to the next."""
    bounds, steps = [], []
    names = list(dict.fromkeys([*next_["modules"], *previous["modules"]]))
    for name in names:
        spec = next_["modules"].get(name, _empty())
        if previous["modules"].get(name, _empty())["bounds"] != spec["bounds"]:
            bounds.append((name, spec["bounds"]))
    for name in names:
        old, new = previous["modules"].get(name, _empty()), next_["modules"].get(name, _empty())
        same_id = old["id"] == new["id"]
        if new["enabled"] != (old["enabled"] if same_id else True):
            steps.append((Command(name, "enable" if new["enabled"] else "disable", id=new["id"]), False))
        changed = _changed(old["params"] if same_id else None, new["params"])
        if changed:
            steps.append((Command(name, "set_params", id=new["id"], params=changed), False))
    before, after = previous["callbacks"], next_["callbacks"]
    for id_ in before:
        if id_ not in after:
            steps.append((Command("cb", "unload", id=id_), False))
    for id_, spec in after.items():
        old = before.get(id_)
        reload = (old is None or old["target"] != spec["target"] or old["init"] != spec["init"]
                  or old["time_budget_s"] != spec["time_budget_s"])
        if reload:
            steps.append((Command("cb", "load", id=id_, target=spec["target"], init=spec["init"], enabled=spec["enabled"],
                                  time_budget_s=spec["time_budget_s"]), False))
        elif old["enabled"] != spec["enabled"]:
            steps.append((Command("cb", "enable" if spec["enabled"] else "disable", id=id_), False))
        changed = _changed(None if reload else old["params"], spec["params"])
        if changed:
            steps.append((Command("cb", "set_params", id=id_, params=changed), True))
    settings = next_["kernel"] if next_["kernel"] != previous["kernel"] else None
    return settings, bounds, steps


def _changed(previous, next_):
    if not next_:
        return {}
    return {k: v for k, v in next_.items() if previous is None or k not in previous or previous[k] != v
            or type(previous[k]) is not type(v)}


class ConfigWatcher:
    def __init__(self, kernel):
        self._k = kernel
        self._path = kernel.files.path(_files.CONFIG)
        self._config = EMPTY
        self._bytes = None
        self._stamp = None
        self.waiting = False

    def start(self, at):
        self._stamp = _files.stamp(self._path)
        if self._stamp is not None:
            self._reload(at, baseline=True)

    def poll(self, at):
        stamp = _files.stamp(self._path)
        if stamp == self._stamp and not (self.waiting and not self._k.freeze.is_frozen):
            return
        self._stamp = stamp
        self._reload(at, baseline=False)

    def _line(self, at, result):
        self._k._kernel_line("config", at, result, "yaml")

    def _reload(self, at, baseline):
        try:
            size = os.path.getsize(self._path) if os.path.exists(self._path) else None
            if size is not None and size > _yaml.MAX_BYTES:
                self._bytes = b"\xff"
                self._line(at, OpResult.rejected(f"{_files.CONFIG}: {size} bytes is too large for a YAML file (at most {_yaml.MAX_BYTES} bytes); the previous settings stay"))
                return
            data = None
            if size is not None:
                with open(self._path, "rb") as f:
                    data = f.read()
        except OSError as ex:
            self._line(at, OpResult.rejected(f"{_files.CONFIG}: {ex}"))
            return
        if not baseline and not self.waiting and data == self._bytes:
            return
        freeze = self._k.freeze
        if not baseline and freeze.is_frozen:
            if not self.waiting or data != self._bytes:
                self._line(at, OpResult(IGNORED_REPLAY if freeze.is_replay else IGNORED_FREEZE,
                                        notes=f"{_files.CONFIG} changed while the run is frozen (mode {freeze.mode}); it is applied when the run is unfrozen"))
            self._bytes = data
            self.waiting = True
            return
        self._bytes = data
        self.waiting = False
        sections = [n for n in self._k._modules if n not in ("core", "cb")]
        try:
            nxt = EMPTY if data is None else parse_config(_yaml.load(data), sections)
        except ProtocolError as ex:
            self._line(at, OpResult.rejected(f"{_files.CONFIG}: {ex}; the previous settings stay"))
            return
        previous, self._config = self._config, nxt
        settings, bounds, steps = plan(previous, nxt)
        if settings is not None:
            self._k.apply_settings(settings)
            self._line(at, OpResult.applied({"kernel": {key: settings.get(key) for key in (
                "poll_interval_ms", "debounce_steps", "auto_disable_on_error", "callback_time_budget_s", "wait_for_disk_space")}}))
        for module, b in bounds:
            try:
                self._k._modules[module].set_bounds(b)
                result = OpResult.applied({module + ".bounds": {k: list(v) for k, v in b.items()}})
            except ProtocolError as ex:
                result = OpResult.rejected(f"{_files.CONFIG}: {ex}")
            self._line(at, result)
        for command, if_loaded in steps:
            if if_loaded and self._k.cb.get(command.id) is None:
                continue
            self._k.execute(command, "yaml", None, at, gated=False)

