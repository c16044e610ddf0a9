"""The live-control kernel for Python training loops: the same rules, files and decisions as Kiln.Core's ``KilnKernel``
(docs/kernel.md, docs/protocol.md).

At each safe point the loop calls ``kernel.apply(step, event, env)``. Nothing is due most of the time, and then the call
costs a clock read; at most every ``poll_interval`` the kernel reads new inbox lines, ``kiln.freeze.json`` and
``kiln.yaml``, validates and applies each change through its module, fires due replay entries, calls the enabled
callbacks, and writes one ledger line per decision. Not thread-safe: call it from the training loop's thread.
"""
import os
import sys
import time

from . import _files
from ._json import ProtocolError, parse
from .command import SHIPPED_MODULES, command_from_json
from .config import ConfigWatcher
from .ledger import (APPLIED, FAILED, IGNORED_FREEZE, IGNORED_REPLAY, MISSED, REJECTED, Ledger, LedgerUnavailable, Moment,
                     OpResult)
from .modules.callbacks import CallbackModule
from .modules.loss import LossModule
from .modules.opt import OptModule
from .replay import FreezeState, RecipePlayer, ReplayMissed, read_recipe

_monotonic = time.monotonic
START_EVENT = "kernel_start"
END_EVENT = "run_end"
_NEVER = float("inf")


class KernelEnv(dict):
    """What callbacks see at a safe point (seed 001's ``env``): a dict with ``step``, ``event``, ``epoch``, ``phase``,
    ``max_steps``, ``loss``, ``metrics``, ``model``, ``optimizer``, ``log``, ``run_dir``… Keep one and update it."""

    def __init__(self, **values):
        super().__init__(**values)
        self.setdefault("metrics", {})

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value


class OpContext:
    __slots__ = ("step", "event", "env", "auto_disable_on_error", "files")

    def __init__(self, step, event, env, auto_disable_on_error, files):
        self.step, self.event, self.env = step, event, env
        self.auto_disable_on_error, self.files = auto_disable_on_error, files

    @property
    def step_or_zero(self):
        return self.step or 0


class Kernel:
    """One kernel per run directory (``kiln.kernel.lock`` enforces it)."""

    def __init__(self, run_dir, poll_interval=0.005, debounce_steps=1, auto_disable_on_error=True, warn=None):
        self.files = _files.RunFiles(run_dir)
        self._default_poll = float(poll_interval)
        self._default_debounce = max(1, int(debounce_steps))
        self._default_auto_disable = auto_disable_on_error
        self.warn = warn or (lambda message: print(f"kiln: {message}", file=sys.stderr))
        self.opt = OptModule()
        self.loss = LossModule()
        self.cb = CallbackModule()
        self._core = _CoreModule(self)
        self._modules = {}
        self._ended = False
        self._started = False
        self._ready = False
        self._listening = []
        for m in (self._core, self.opt, self.loss, self.cb):
            self.add_module(m)
        self._listening = []
        self.freeze = FreezeState()
        self.auto_disable_on_error = auto_disable_on_error
        self._player = None
        self._freeze_stamp = None
        self.due_step = _NEVER
        self._registrations = []
        self._default_env = KernelEnv()
        self._ledger = None
        self._lock = None
        self._tail = _files.JsonlTail(self.files.path(_files.COMMANDS))
        self._offsets = {}
        self._config = ConfigWatcher(self)
        self.dials_changed = False
        self._actuators_text = None
        self._next_drift_check = 0.0
        self._started = False
        self._ended = False
        self._last_step = None
        self._calls = 0
        self._next_poll = 0.0
        self.apply_settings({})

    # ---- what the loop registers -------------------------------------------------------------------------------
    def add_optimizer(self, actuator, id="main"):
        """Exposes an optimizer actuator (``kiln.torch.TorchOptimizer``, ``kiln.dials.OptimizerDials``) as ``opt:<id>``."""
        self.opt.register(id, actuator)
        self._dials_added()

    def add_loss(self, actuator, id="main"):
        """Exposes a loss actuator (``kiln.torch.WeightedLoss``, ``kiln.dials.LossDials``) as ``loss:<id>``."""
        self.loss.register(id, actuator)
        self._dials_added()

    def add_module(self, module):
        """Plugs a module in: commands whose ``module`` is its name go to its ``apply(command, ctx)``."""
        if self._ended:
            raise RuntimeError("the kernel has ended")
        name = module.name
        if not name or name in ("version", "kernel", "callbacks"):
            raise ValueError(f"a kernel module needs a name other than version, kernel, callbacks (got \"{name}\")")
        if name in self._modules:
            raise ValueError(f"a module named \"{name}\" is already in this kernel")
        self._modules[name] = module
        if hasattr(module, "attach"):
            module.attach(self)
        self._dials_added()

    def add_callback(self, callback, enabled=True):
        """Registers a callback object made in code; ledgered (source ``code``) when the kernel starts."""
        if not self._started:
            self._registrations.append((callback, enabled))
            return
        result = self.cb.register(callback, enabled, self._default_env)
        self._record("cb", "load", getattr(callback, "id", None), "code", None, Moment(self._last_step, START_EVENT, None), result)
        self._write_actuators()

    def _dials_added(self):
        self.dials_changed = True
        if self._started and self._ledger is not None:
            self._write_actuators()

    # ---- the module host -----------------------------------------------------------------------------------------
    def listen(self, module, listening):
        if listening and module not in self._listening:
            self._listening = [m for m in self._modules.values() if m in self._listening or m is module]
        elif not listening and module in self._listening:
            self._listening = [m for m in self._listening if m is not module]

    def report(self, module, op, id_, result, step, event, env):
        self._record(module, op, id_, "kernel", None, Moment(step, event, env), result)
        self.dials_changed = True

    @property
    def ledger_failure(self):
        return self._ledger.failure if self._ledger else None

    @property
    def replay_remaining(self):
        return self._player.remaining if self._player else 0

    def is_callback_enabled(self, id_):
        return self.cb.is_enabled(id_)

    def get_callback(self, id_):
        return self.cb.get(id_)

    # ---- life ----------------------------------------------------------------------------------------------------
    def start(self, env=None):
        if self._started:
            return
        os.makedirs(self.files.dir, exist_ok=True)
        self._lock = _files.FileLock.try_acquire(self.files.path(_files.KERNEL_LOCK))
        if self._lock is None:
            raise RuntimeError(f"{self.files.dir}: another kernel is running in this run directory")
        self._started = True
        e = env if env is not None else self._default_env
        at = Moment(None, START_EVENT, e)
        try:
            self._ledger = Ledger(self.files.path(_files.LEDGER))
        except OSError as ex:
            raise LedgerUnavailable(f"{_files.LEDGER}: {ex}; without its ledger the kernel cannot apply a command exactly once, so it applies nothing more") from ex
        for problem in self._ledger.problems:
            self.warn(problem)
        if self._ledger.dropped_torn_bytes > 0:
            self._kernel_line("recover", at, OpResult.applied({"dropped_bytes": self._ledger.dropped_torn_bytes},
                                                               "dropped the unfinished last line of the ledger left by a killed kernel"))
        self._freeze_stamp = _files.stamp(self.files.path(_files.FREEZE))
        if self._freeze_stamp is not None:
            self._load_freeze_file(at)
        self._release_if_done(at)
        self._config.start(at)
        for callback, enabled in self._registrations:
            result = self.cb.register(callback, enabled, e)
            self._record("cb", "load", getattr(callback, "id", None), "code", None, at, result)
        self._registrations.clear()
        self._write_actuators()
        self._next_poll = _monotonic()

    def apply(self, step, event, env=None):
        """A safe point: ``step`` is the trainer's step (0 included); ``event`` names the moment (``train_step_end``…)."""
        if not self._ready:
            self._check_ready(env)
        e = self._default_env if env is None else env
        e["step"] = step
        e["event"] = event
        # Cheap when idle: a counter and a clock read, then three flags; everything else waits for the poll interval.
        self._calls += 1
        if self._calls >= self._debounce:
            now = _monotonic()
            if now >= self._next_poll:
                self._calls = 0
                self._next_poll = now + self._poll
                e["run_dir"] = self.files.dir
                self._do_poll(Moment(step, event, e))
        if step >= self.due_step:
            self._fire(step, event, e)
        if self._listening:
            self._safe_point(event, e)
        if self.dials_changed:
            self._write_actuators()
        self._last_step = step

    def _check_ready(self, env):
        if not self._started:
            self.start(env)
        elif self._ended:
            raise RuntimeError("the kernel has ended; apply after end is a bug in the training loop")
        elif self._ledger.failure is not None:
            raise self._ledger.refusal()
        self._ready = self._started and not self._ended and self._ledger.failure is None

    def end(self, step=None, env=None):
        """Training finished: unfired replay entries are missed, callbacks closed. A strict replay that missed raises
        ReplayMissed; a ledger that could not be written, LedgerUnavailable."""
        if not self._started or self._ended:
            return
        self._ended = True
        self._ready = False
        self._ledger.closing = True
        at = Moment(self._last_step if step is None else step, END_EVENT, self._default_env if env is None else env)
        try:
            strict_error = self._end_replay(at)
            self._close_modules(at.step, at.env)
            self._write_actuators()
        finally:
            self._release_lock()
        if self._ledger.failure is not None:
            raise self._ledger.refusal()
        if strict_error is not None:
            raise ReplayMissed(strict_error)

    def close(self):
        """Releases the run without ending it (an interrupted run): replay entries not yet due stay for a resumed run."""
        self._ready = False
        if self._started and not self._ended:
            self._ended = True
            self._ledger.closing = True
            self._close_modules(self._last_step, None)
            self._write_actuators()
        self._release_lock()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _release_lock(self):
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _close_modules(self, step, env):
        for m in list(self._modules.values()):
            if hasattr(m, "close"):
                try:
                    m.close(step, env)
                except Exception as ex:
                    self.report(m.name, "close", None, OpResult.failed(ex), step, END_EVENT, env)

    # ---- settings (kiln.yaml's kernel: section) -----------------------------------------------------------------
    def apply_settings(self, s):
        self.settings = s
        ms = s.get("poll_interval_ms")
        self._poll = self._default_poll if ms is None else ms / 1000.0
        self._debounce = s.get("debounce_steps") or self._default_debounce
        ad = s.get("auto_disable_on_error")
        self.auto_disable_on_error = self._default_auto_disable if ad is None else ad
        budget = s.get("callback_time_budget_s")
        self.cb.default_budget = 30.0 if budget is None else budget

    # ---- polling -------------------------------------------------------------------------------------------------
    def _do_poll(self, at):
        stamp = _files.stamp(self.files.path(_files.FREEZE))
        if stamp != self._freeze_stamp:
            self._freeze_stamp = stamp
            self._load_freeze_file(at)
            self._release_if_done(at)
        self._config.poll(at)
        self._read_inbox(at)
        if not self.dials_changed:
            self._write_actuators_if_drifted(at.step)

    def _read_inbox(self, at):
        while True:
            lines = self._tail.poll()
            if self._tail.restarted:
                self._offsets.clear()
                self._kernel_line("inbox", at, OpResult.applied(notes=f"{_files.COMMANDS} shrank (truncated or replaced); reading it again from the start; commands already in the ledger are not applied again"))
            if not lines:
                break
            for line in lines:
                self._handle_line(line, at)

    def _handle_line(self, line, at):
        where = f"{_files.COMMANDS} line {line.number}"
        if line.oversized:
            self._reject_line(line, None, f"{where}: line of {line.length} bytes exceeds the limit of {self._tail.max} bytes", at)
            return
        try:
            node = parse(line.data)
        except ProtocolError as ex:
            self._reject_line(line, _readable_fields(line.data), f"{where}: {ex}", at)
            return
        try:
            command = command_from_json(node)
        except ProtocolError as ex:
            self._reject_line(line, _readable_fields(line.data), f"{where}: {ex}", at)
            return
        cid = self._decided(command.cid or f"inbox@{line.offset}", line, command.module, command.op, command.id, at)
        if cid is not None:
            self.execute(command, command.source or "external", cid, at, gated=True)

    def _reject_line(self, line, fields, error, at):
        fields = fields or {}
        c = fields.get("cid")
        readable = c if isinstance(c, str) and len(c) <= 256 else None
        cid = self._decided(readable or f"inbox@{line.offset}", line, fields.get("module"), fields.get("op"), fields.get("id"), at)
        if cid is not None:
            self._record(fields.get("module"), fields.get("op"), fields.get("id"), "external", cid, at, OpResult.rejected(error))

    def _decided(self, cid, line, module, op, id_, at):
        """The cid to decide the line under now, or None when it was decided before; a reused cid is answered once."""
        if not self._ledger.contains(cid):
            self._offsets[cid] = line.offset
            return cid
        first = self._offsets.setdefault(cid, line.offset)
        if first == line.offset:
            return None
        again = f"{cid}#{line.offset}"
        if not self._ledger.contains(again):
            self._record(module, op, id_, "external", again, at, OpResult.rejected(
                f"{_files.COMMANDS} line {line.number}: duplicate cid {cid} (first at byte {first}); not applied again"))
        return None

    # ---- dispatch ------------------------------------------------------------------------------------------------
    def execute(self, command, source, cid, at, gated):
        """The freeze gate, then the module, then one ledger line."""
        if gated and command.module != "core" and self.freeze.is_frozen:
            result = OpResult(IGNORED_REPLAY if self.freeze.is_replay else IGNORED_FREEZE,
                              notes=f"the run is frozen (mode {self.freeze.mode}); `kiln freeze --mode off` lifts it")
        else:
            result = self._route(command, at)
        self._record(command.module, command.op, command.id, source, cid, at, result, command.ledger_params())
        if result.decision == APPLIED:
            self.dials_changed = True
        if (command.module == "core" and command.op == "freeze" and result.decision == REJECTED
                and isinstance(command.params, dict) and command.params.get("policy") == "strict"
                and command.params.get("mode") in ("replay", "replay_adjusted")):
            raise ReplayMissed(f"strict replay could not start: {result.error}")
        return result

    def _route(self, command, at):
        module = self._modules.get(command.module)
        if module is None:
            known = ", ".join(self._modules)
            if command.module in SHIPPED_MODULES:
                return OpResult.rejected(f"module: {command.module} is not available in this run (known: {known})")
            return OpResult.rejected(f"module: unknown module \"{command.module}\" (known: {known})")
        try:
            return module.apply(command, OpContext(at.step, at.event, at.env, self.auto_disable_on_error, self.files))
        except ReplayMissed:
            raise
        except Exception as ex:
            return OpResult.failed(ex)

    def _safe_point(self, event, env):
        for m in self._listening:
            try:
                m.on_safe_point(event, env)
            except ReplayMissed:
                raise
            except Exception as ex:
                if self.auto_disable_on_error:
                    self.listen(m, False)
                self.report(m.name, "safe_point", None, OpResult.failed(
                    ex, notes=f"{m.name} no longer hears safe points (auto_disable_on_error)" if self.auto_disable_on_error else None),
                    env.get("step"), event, env)

    def _record(self, module, op, id_, source, cid, at, result, params=None):
        try:
            return self._ledger.record(module, op, id_, source, cid, at, result, params)
        except LedgerUnavailable:
            self._ready = False
            raise

    def _kernel_line(self, op, at, result, source="kernel"):
        self._record("core", op, None, source, None, at, result)

    # ---- freeze and replay ---------------------------------------------------------------------------------------
    def _load_freeze_file(self, at):
        path = self.files.path(_files.FREEZE)
        try:
            if os.path.exists(path):
                with open(path, "rb") as f:
                    state = FreezeState.from_json(parse(f.read()))
            else:
                state = FreezeState()
        except (ProtocolError, OSError) as ex:
            message = f"content: {ex}" if isinstance(ex, ProtocolError) and not str(ex).startswith(("mode", "policy", "recipe_path", "adjust_path", "after", "unknown", "step_offset", "freeze state")) else str(ex)
            self._kernel_line("freeze", at, OpResult.rejected(f"{_files.FREEZE}: {message}; the freeze mode stays {self.freeze.mode}"), "freeze_file")
            return
        if state == self.freeze:
            return
        result = self.set_freeze(state, write_file=False)
        self._kernel_line("freeze" if state.is_frozen else "unfreeze", at, result, "freeze_file")
        if result.decision == REJECTED and state.is_replay and state.policy == "strict":
            raise ReplayMissed(f"strict replay could not start: {result.error}")

    def set_freeze(self, state, write_file):
        player = None
        notes = []
        if state.is_replay:
            try:
                player = self._build_player(state, notes)
            except (ProtocolError, OSError) as ex:
                return OpResult.rejected(str(ex))
        if write_file:
            path = self.files.path(_files.FREEZE)
            if state.is_frozen:
                _files.write_json_atomic(path, state.to_json())
            elif os.path.exists(path):
                os.unlink(path)
            self._freeze_stamp = _files.stamp(path)
        if self._player is not None and self._player.remaining > 0:
            notes.append(f"the previous replay stopped with {self._player.remaining} entries not fired")
        was_frozen = self.freeze.is_frozen
        self.freeze = state
        self._player = player
        self.due_step = _NEVER if player is None or player.next_due_step is None else player.next_due_step
        if was_frozen and not state.is_frozen and self._config.waiting:
            notes.append(f"{_files.CONFIG} changed while frozen; it is applied now")
        payload = state.to_json()
        if player is not None:
            payload["recipe_entries"] = len(player.entries)
        return OpResult.applied(payload, "; ".join(notes) if notes else None)

    def _build_player(self, state, notes):
        entries = read_recipe(self.files.resolve(state.recipe_path))
        if state.mode == "replay_adjusted":
            from .adjust import apply_overlay, load_overlay
            entries = apply_overlay(entries, load_overlay(self.files.resolve(state.adjust_path)), notes)
            _files.write_atomic(self.files.path(_files.EFFECTIVE_RECIPE),
                                "".join(__import__("kiln._json", fromlist=["dumps"]).dumps(e.to_recipe()) + "\n" for e in entries).encode("utf-8"))
        player = RecipePlayer(entries, state.step_offset, state.policy)
        for i in range(len(player.entries)):
            if self._ledger.contains(player.cid_of(i)):
                player.mark_done(i)
        return player

    def _release_if_done(self, at):
        if self._player is None or self._player.remaining != 0 or self.freeze.after != "off":
            return
        result = self.set_freeze(FreezeState(), write_file=True)
        result.notes = f"the recipe is done and {_files.FREEZE} says after: off"
        self._kernel_line("unfreeze", at, result)

    def _fire(self, step, event, env):
        player = self._player
        fire, missed = [], []
        player.collect(step, event, fire, missed)
        self.due_step = _NEVER if player.next_due_step is None else player.next_due_step
        at = Moment(step, event, env)
        for i in missed:
            e = player.entries[i]
            self._record_missed(i, at, f"its moment passed: now step {step} ({event})")
            if player.strict:
                raise ReplayMissed(f"strict replay: recipe entry {e.module} {e.op} {e.id} due at step {e.step + player.step_offset} ({e.event}) was missed at step {step} ({event}); see {_files.LEDGER}")
        for i in fire:
            e = player.entries[i]
            cid = player.cid_of(i)
            command = _replay_command(e, cid)
            result = self.execute(command, "replay", cid, at, gated=False)
            if player.strict and result.decision in (FAILED, REJECTED):
                raise ReplayMissed(f"strict replay: recipe entry {e.module} {e.op} {e.id} at step {e.step + player.step_offset} ({e.event}) was {result.decision}: {result.error}; see {_files.LEDGER}")
        self._release_if_done(at)

    def _end_replay(self, at):
        player = self._player
        if player is None:
            return None
        rest = player.drain_remaining()
        shown = "(none)" if at.step is None else str(at.step)
        for i in rest:
            self._record_missed(i, at, f"the run ended at step {shown} before it was due")
        self.due_step = _NEVER
        if not rest or not player.strict:
            return None
        first = player.entries[rest[0]]
        what = "entry was" if len(rest) == 1 else "entries were"
        return f"strict replay: {len(rest)} recipe {what} never applied (first due at step {first.step + player.step_offset}, {first.event}); see {_files.LEDGER}"

    def _record_missed(self, i, at, why):
        player = self._player
        e = player.entries[i]
        cid = player.cid_of(i)
        result = OpResult(MISSED, error=f"missed_step:{e.step + player.step_offset}:{e.event}: {why}",
                          notes="strict policy: the run fails" if player.strict else "best_effort policy: the run goes on")
        command = _replay_command(e, cid)
        self._record(e.module, e.op, e.id, "replay", cid, at, result, command.ledger_params())

    # ---- kiln.actuators.json -------------------------------------------------------------------------------------
    def describe(self, step):
        dials = []
        for m in self._modules.values():
            if hasattr(m, "describe"):
                m.describe(dials, step or 0)
        return dials

    def _write_actuators(self):
        self.dials_changed = False
        # Without a ledger the dials may hold a change no ledger line explains: the file keeps the last ledgered state.
        if self._ledger is None or self._ledger.failure is not None:
            return
        self._write_dials(self._last_step, self.describe(self._last_step))

    def _write_actuators_if_drifted(self, step):
        now = time.monotonic()
        if now < self._next_drift_check:
            return
        dials = self.describe(step)
        from ._json import dumps
        if dumps(dials) != self._actuators_text:
            self._write_dials(step, dials)
        else:
            self._next_drift_check = now + 1.0

    def _write_dials(self, step, dials):
        from ._json import dumps
        self._next_drift_check = time.monotonic() + 1.0
        self._actuators_text = dumps(dials)
        doc = {"step": step, "wall_time": round(time.time(), 3), "freeze": self.freeze.to_json(), "actuators": dials}
        try:
            _files.write_json_atomic(self.files.path(_files.ACTUATORS), doc, durable=False)
        except OSError as ex:
            self.warn(f"{_files.ACTUATORS}: {ex}")


class _CoreModule:
    """``core``: ``freeze`` and ``unfreeze``; its commands pass the freeze gate."""

    name = "core"

    def __init__(self, kernel):
        self._kernel = kernel

    def apply(self, command, ctx):
        if command.op == "freeze":
            try:
                state = FreezeState.from_json(command.params or {})
            except ProtocolError as ex:
                return OpResult.rejected("params." + str(ex))
            return self._kernel.set_freeze(state, write_file=True)
        if command.op == "unfreeze":
            return self._kernel.set_freeze(FreezeState(), write_file=True)
        if command.op == "restore_checkpoint":
            # Rolling back to a checkpoint needs a trainer that keeps them (Kiln's built-in runs); a script's does not.
            return OpResult.rejected("this trainer cannot roll back to a checkpoint (a built-in run keeping checkpoints can)")
        return OpResult.rejected(f"op: unknown op \"{command.op}\" for module core (known: freeze, unfreeze, restore_checkpoint)")


def _replay_command(entry, cid):
    from .command import Command
    return Command(entry.module, entry.op, id=entry.id, params=None if entry.params is None else dict(entry.params),
                   target=entry.target, init=None if entry.init is None else dict(entry.init), enabled=entry.enabled,
                   cid=cid, source="replay", time_budget_s=entry.time_budget_s, source_capture=entry.source_capture)



def _readable_fields(data):
    """What can still be read of a line that is not a command (its cid, module, op, id), so a writer finds it."""
    import json
    import re
    try:
        node = json.loads(data)
        if isinstance(node, dict):
            return {k: node[k] for k in ("cid", "module", "op", "id") if isinstance(node.get(k), str)}
    except (ValueError, UnicodeDecodeError, RecursionError):
        pass
    fields = {}
    text = data.decode("utf-8", "replace") if isinstance(data, (bytes, bytearray)) else data
    for k in ("cid", "module", "op", "id"):
        m = re.search(r'"%s"\s*:\s*"((?:[^"\\]|\\.)*)"' % k, text)
        if m:
            try:
                fields[k] = json.loads('"' + m.group(1) + '"')
            except ValueError:
                pass
    return fields
