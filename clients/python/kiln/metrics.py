"""``kiln.metrics.jsonl``'s writer: ``write`` queues a line and returns at once; a background thread appends whole
lines, so the training loop never waits for the disk. Opening the file cuts off a torn last line left by a writer
killed mid-line; a write that fails is cut back to the last whole line and nothing more is written (a line after a
gap would hide the loss)."""
import collections
import math
import os
import sys
import threading
import time

from ._json import dumps


class MetricsWriter:
    def __init__(self, path, flush_interval=0.2, on_failure=None):
        self.path = path
        self.failure = None
        self._on_failure = on_failure
        self._queue = collections.deque()
        self._wake = threading.Event()
        self._done = False
        self._interval = flush_interval
        self._cut_torn_tail()
        self._thread = threading.Thread(target=self._run, name="kiln-metrics", daemon=True)
        self._thread.start()

    def _cut_torn_tail(self):
        try:
            with open(self.path, "rb+") as f:
                size = f.seek(0, os.SEEK_END)
                if size == 0:
                    return
                f.seek(max(0, size - 65536))
                tail = f.read()
                if tail.endswith(b"\n"):
                    return
                last = tail.rfind(b"\n")
                f.truncate(size - len(tail) + last + 1 if last >= 0 else (0 if size <= 65536 else size))
        except FileNotFoundError:
            pass

    def write(self, step, metrics, epoch=None, phase=None):
        """Queues one line; values that are not finite numbers are left out (the protocol's readers would drop them)."""
        clean = {}
        for k, v in metrics.items():
            try:
                f = float(v)
            except (TypeError, ValueError):
                continue
            if math.isfinite(f):
                clean[str(k)] = f
        self._queue.append({"step": int(step), "epoch": epoch, "phase": phase, "wall_time": round(time.time(), 6), "metrics": clean})
        if len(self._queue) >= 4096:
            self._wake.set()
        return clean

    def flush(self):
        self._drain()

    def close(self):
        self._done = True
        self._wake.set()
        self._thread.join()
        self._drain()

    def _run(self):
        while not self._done:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._drain()

    _lock = threading.Lock()

    def _drain(self):
        with self._lock:
            if not self._queue:
                return
            lines = []
            while self._queue:
                lines.append(dumps(self._queue.popleft()) + "\n")
            if self.failure is not None:
                return
            data = "".join(lines).encode("utf-8")
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            except OSError as ex:
                self._fail(ex)
                return
            try:
                start = os.fstat(fd).st_size
                try:
                    if os.write(fd, data) != len(data):
                        raise OSError("short write")
                except OSError as ex:
                    try:
                        os.ftruncate(fd, start)
                    except OSError:
                        pass
                    self._fail(ex)
            finally:
                os.close(fd)

    def _fail(self, ex):
        self.failure = (f"kiln.metrics.jsonl: {ex}; its last whole line stays, and nothing more is written to it; "
                        "the run stops and ends failed")
        print(f"kiln: {self.failure}", file=sys.stderr)
        if self._on_failure:
            self._on_failure(self.failure)
