"""Replay: a recipe's entries fire at their exact moment ``(step + step_offset, event)``; an entry whose step passed
is missed at once. Cids ``replay:<recipe fingerprint>:<index>`` make a restarted run skip what it already replayed."""
import hashlib

from . import _json
from ._json import ProtocolError
from .command import recipe_entry_from_json

OFF, PROD, REPLAY, REPLAY_ADJUSTED = "off", "prod", "replay", "replay_adjusted"
MODES = [OFF, PROD, REPLAY, REPLAY_ADJUSTED]
BEST_EFFORT, STRICT = "best_effort", "strict"
POLICIES = [BEST_EFFORT, STRICT]
_FREEZE_FIELDS = ["mode", "recipe_path", "adjust_path", "policy", "step_offset", "after"]


class ReplayMissed(RuntimeError):
    """A strict replay could not be the recipe's run: an entry was missed, rejected or failed."""


class FreezeState:
    __slots__ = ("mode", "recipe_path", "adjust_path", "policy", "step_offset", "after")

    def __init__(self, mode=OFF, recipe_path=None, adjust_path=None, policy=BEST_EFFORT, step_offset=0, after=None):
        self.mode, self.recipe_path, self.adjust_path = mode, recipe_path, adjust_path
        self.policy, self.step_offset, self.after = policy, step_offset, after

    @property
    def is_frozen(self):
        return self.mode != OFF

    @property
    def is_replay(self):
        return self.mode in (REPLAY, REPLAY_ADJUSTED)

    def to_json(self):
        o = {"mode": self.mode, "recipe_path": self.recipe_path, "adjust_path": self.adjust_path,
             "policy": self.policy, "step_offset": self.step_offset}
        if self.after is not None:
            o["after"] = self.after
        return o

    def __eq__(self, other):
        return isinstance(other, FreezeState) and self.to_json() == other.to_json()

    @staticmethod
    def from_json(node):
        o = _json.get_object(node, "freeze state")
        _json.reject_unknown_keys(o, _FREEZE_FIELDS, "")
        if o.get("mode") is None:
            raise ProtocolError("mode: missing")
        mode = _json.get_string(o["mode"], "mode")
        if mode not in MODES:
            raise ProtocolError(f"mode: unknown mode \"{mode}\" (known: {', '.join(MODES)})")
        policy = _json.optional_string(o, "policy") or BEST_EFFORT
        if policy not in POLICIES:
            raise ProtocolError(f"policy: unknown policy \"{policy}\" (known: {', '.join(POLICIES)})")
        s = FreezeState(mode, _json.optional_string(o, "recipe_path"), _json.optional_string(o, "adjust_path"), policy,
                        0 if o.get("step_offset") is None else _json.get_long(o["step_offset"], "step_offset"),
                        _json.optional_string(o, "after"))
        if s.is_replay and not s.recipe_path:
            raise ProtocolError(f"recipe_path: mode {mode} needs a recipe")
        if mode == REPLAY_ADJUSTED and not s.adjust_path:
            raise ProtocolError("adjust_path: mode replay_adjusted needs an adjust file")
        if s.after is not None and (s.after != OFF or not s.is_replay):
            raise ProtocolError(f"after: only \"off\", after a replay mode, is allowed (got \"{s.after}\" with mode {mode})")
        return s


def read_recipe(path):
    """Reads a recipe; a line that is not an entry is an error naming the file and line."""
    import os
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ProtocolError(f"{path}: recipe not found") from None
    entries = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            entries.append(recipe_entry_from_json(_json.parse(raw)))
        except ProtocolError as ex:
            raise ProtocolError(f"{os.path.basename(path)} line {number}: {ex}") from None
    return entries


class RecipePlayer:
    def __init__(self, entries, step_offset, policy):
        self.entries = sorted(entries, key=lambda e: e.step)  # stable, as LINQ's OrderBy
        self.done = [False] * len(self.entries)
        self.step_offset = step_offset
        self.policy = policy
        text = "".join(_json.dumps(e.to_recipe()) + "\n" for e in self.entries)
        self.fingerprint = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        self._next = 0
        self.next_due_step = None
        self._advance()

    @property
    def strict(self):
        return self.policy == STRICT

    @property
    def remaining(self):
        return self.done.count(False)

    def cid_of(self, i):
        return f"replay:{self.fingerprint}:{i}"

    def mark_done(self, i):
        self.done[i] = True
        self._advance()

    def collect(self, step, event, fire, missed):
        for i in range(self._next, len(self.entries)):
            due = self.entries[i].step + self.step_offset
            if due > step:
                break
            if self.done[i]:
                continue
            if due < step:
                missed.append(i)
                self.done[i] = True
            elif self.entries[i].event == event:
                fire.append(i)
                self.done[i] = True
        self._advance()

    def drain_remaining(self):
        rest = [i for i in range(self._next, len(self.entries)) if not self.done[i]]
        for i in rest:
            self.done[i] = True
        self._advance()
        return rest

    def _advance(self):
        while self._next < len(self.entries) and self.done[self._next]:
            self._next += 1
        self.next_due_step = self.entries[self._next].step + self.step_offset if self._next < len(self.entries) else None
