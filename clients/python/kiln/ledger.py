"""The ledger, ``kiln.applied.jsonl``: one line per decision, numbered, stamped and appended whole.

Opening it recovers what a restarted kernel needs — the last ``seq`` and every ``cid`` already decided — and drops a
torn last line (a kernel killed while writing it: the change it describes died with that process).
"""
import json
import os
import time

from . import _files
from ._json import MAX_LINE_BYTES, dumps, excerpt

APPLIED = "applied"
REJECTED = "rejected"
FAILED = "failed"
IGNORED_FREEZE = "ignored_freeze"
IGNORED_REPLAY = "ignored_replay"
SKIPPED_NOOP = "skipped_noop"
MISSED = "missed"


class LedgerUnavailable(RuntimeError):
    """The ledger cannot be written: the kernel applies nothing more (a command applied but not ledgered would be
    applied again by a resumed run)."""


class OpResult:
    """A module's answer to one command: the ledger line's decision and its details."""

    __slots__ = ("decision", "payload", "error", "notes", "traceback")

    def __init__(self, decision, payload=None, error=None, notes=None, traceback=None):
        self.decision = decision
        self.payload = payload
        self.error = error
        self.notes = notes
        self.traceback = traceback

    @staticmethod
    def applied(payload=None, notes=None):
        return OpResult(APPLIED, payload, None, notes)

    @staticmethod
    def rejected(error):
        return OpResult(REJECTED, error=error)

    @staticmethod
    def noop(notes):
        return OpResult(SKIPPED_NOOP, notes=notes)

    @staticmethod
    def failed(ex, payload=None, notes=None):
        import traceback as tb
        return OpResult(FAILED, payload, describe(ex), notes, "".join(tb.format_exception(ex)))


def describe(ex):
    """An exception for a ledger line; a protocol error is already a one-line message naming the fault."""
    from ._json import ProtocolError
    return str(ex) if isinstance(ex, ProtocolError) else f"{type(ex).__name__}: {ex}"


class Moment:
    """Where a decision is made: the trainer's step (None before the first safe point), the event, the env."""

    __slots__ = ("step", "event", "env")

    def __init__(self, step, event, env):
        self.step = step
        self.event = event
        self.env = env


class Ledger:
    def __init__(self, path):
        self.path = path
        self.last_seq = 0
        self.cids = set()
        self.dropped_torn_bytes = 0
        self.problems = []
        self.failure = None
        self.closing = False
        self._recover()

    def _recover(self):
        if not os.path.exists(self.path):
            return
        tail = _files.JsonlTail(self.path)
        for line in tail.poll():
            try:
                if line.oversized:
                    raise ValueError
                h = json.loads(line.data)
                seq = h["seq"]
                if not isinstance(seq, int):
                    raise ValueError
                self.last_seq = max(self.last_seq, seq)
                if isinstance(h.get("cid"), str):
                    self.cids.add(h["cid"])
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                self.problems.append(f"{os.path.basename(self.path)} line {line.number}: not a ledger line")
        if tail.pending_bytes > 0:
            with _files.FileLock.acquire(_files.lock_path_for(self.path)):
                self.dropped_torn_bytes = os.path.getsize(self.path) - tail.offset
                os.truncate(self.path, tail.offset)

    def contains(self, cid):
        return cid in self.cids

    def refusal(self):
        return LedgerUnavailable(self.failure)

    def record(self, module, op, id_, source, cid, at, result, params=None):
        """Appends one decision; when the ledger cannot be written, raises LedgerUnavailable (except while closing)."""
        env = at.env
        entry = {
            "seq": self.last_seq + 1,
            "cid": cid,
            "step": at.step,
            "epoch": env.get("epoch") if env is not None else None,
            "event": at.event,
            "phase": env.get("phase") if env is not None else None,
            "module": module,
            "op": op,
            "id": id_,
            "source": source,
            "decision": result.decision,
            "params": params,
            "payload": result.payload,
            "error": result.error,
            "notes": result.notes,
            "wall_time": round(time.time(), 6),
        }
        if result.traceback is not None:
            entry["traceback"] = result.traceback
        if self.failure is not None:
            if self.closing:
                return None
            raise self.refusal()
        try:
            _files.append_lines(self.path, [_fit(entry)])
        except OSError as ex:
            self.failure = (f"{_files.LEDGER}: {ex}; without its ledger the kernel cannot apply a command exactly once, "
                            "so it applies nothing more")
            if self.closing:
                return None
            raise self.refusal() from ex
        self.last_seq = entry["seq"]
        if cid is not None:
            self.cids.add(cid)
        return entry


def _fit(entry):
    """The line, never longer than a JSONL line may be: params, then payload, then long texts give way (noted)."""
    line = dumps(entry).encode("utf-8")
    if len(line) <= MAX_LINE_BYTES:
        return line
    for key in ("params", "payload"):
        if entry[key] is not None:
            size = len(dumps(entry[key]).encode("utf-8"))
            entry[key] = None
            note = f"{key} ({size} bytes) left out of the ledger: the line would exceed {MAX_LINE_BYTES} bytes"
            entry["notes"] = note if entry["notes"] is None else entry["notes"] + "; " + note
            line = dumps(entry).encode("utf-8")
            if len(line) <= MAX_LINE_BYTES:
                return line
    for key in ("error", "notes", "traceback"):
        if entry.get(key) is not None:
            entry[key] = excerpt(entry[key], 64 * 1024)
    for key in ("module", "op", "id", "source", "event", "phase"):
        if entry[key] is not None:
            entry[key] = excerpt(entry[key], 1024)
    return dumps(entry).encode("utf-8")
