"""The run directory's files (docs/protocol.md) and the three ways they are written and read.

- JSONL files are appended in whole lines under an advisory ``flock`` on a sidecar ``<name>.lock`` — the same lock
  the C# writers take (.NET's exclusive FileShare is a ``flock``), so Python and .NET writers never interleave.
- JSON files others read are written to a temporary file beside the target and renamed over it.
- A reader (``JsonlTail``) takes only whole lines: a last line without its newline waits for the next read.
"""
import fcntl
import os
import tempfile
import time

from ._json import MAX_LINE_BYTES, ProtocolError, dumps

CONFIG = "kiln.yaml"
COMMANDS = "kiln.commands.jsonl"
LEDGER = "kiln.applied.jsonl"
FREEZE = "kiln.freeze.json"
RECIPE = "kiln.recipe.jsonl"
EFFECTIVE_RECIPE = "kiln.recipe.effective.jsonl"
METRICS = "kiln.metrics.jsonl"
ACTUATORS = "kiln.actuators.json"
RUN = "kiln.run.json"
SOURCES = "kiln.sources"
KERNEL_LOCK = "kiln.kernel.lock"
RUN_LOCK = "kiln.run.lock"


class RunFiles:
    """Paths of one run directory's files."""

    def __init__(self, run_dir):
        self.dir = os.path.abspath(os.fspath(run_dir))

    def path(self, name):
        return os.path.join(self.dir, name)

    def resolve(self, relative):
        """A path inside a run's files is relative to the run directory."""
        return relative if os.path.isabs(relative) else os.path.join(self.dir, relative)


class FileLock:
    """An exclusive ``flock`` on a lock file; released by ``release`` or when the process dies."""

    def __init__(self, fd):
        self._fd = fd

    @staticmethod
    def acquire(path, timeout=30.0):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return FileLock(fd)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise OSError(f"{path}: could not take the lock within {timeout:g} s; another process holds it")
                time.sleep(0.0005)

    @staticmethod
    def try_acquire(path, patience=0.1):
        """The lock if it is free or freed within ``patience`` seconds, else None."""
        try:
            return FileLock.acquire(path, timeout=patience)
        except OSError:
            return None

    def release(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def lock_path_for(path):
    return path + ".lock"


def append_lines(path, lines):
    """Appends whole lines (bytes, without newlines) in one write, under the file's lock.

    A torn last line left by a killed writer is closed with a newline first, so it reads as one bad line instead of
    swallowing this one. A write that fails is cut back to where it began before the error is raised.
    """
    data = bytearray()
    for line in lines:
        if len(line) > MAX_LINE_BYTES:
            raise ProtocolError(f"{os.path.basename(path)}: a line of {len(line)} bytes exceeds the limit of {MAX_LINE_BYTES} bytes")
        data += line
        data += b"\n"
    with FileLock.acquire(lock_path_for(path)):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            length = os.fstat(fd).st_size
            if length > 0 and os.pread(fd, 1, length - 1) != b"\n":
                data[0:0] = b"\n"
            try:
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(f"{path}: short write ({written} of {len(data)} bytes)")
            except OSError:
                try:
                    os.ftruncate(fd, length)
                except OSError:
                    pass
                raise
        finally:
            os.close(fd)


def append_json(path, node):
    append_lines(path, [dumps(node).encode("utf-8")])


def write_atomic(path, data, durable=True):
    """Writes bytes to a temporary file beside ``path`` and renames it over ``path``."""
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json_atomic(path, node, durable=True):
    write_atomic(path, dumps(node).encode("utf-8"), durable)


class Line:
    __slots__ = ("number", "offset", "data", "oversized", "length")

    def __init__(self, number, offset, data, oversized, length):
        self.number = number
        self.offset = offset
        self.data = data
        self.oversized = oversized
        self.length = length


class JsonlTail:
    """Follows a JSONL file: each ``poll`` returns the whole lines appended since the last one.

    Blank lines are counted but not returned. A file that shrank was truncated or replaced: ``restarted`` is set and
    reading starts again from its beginning.
    """

    def __init__(self, path, max_line_bytes=MAX_LINE_BYTES):
        self.path = path
        self.max = max_line_bytes
        self.offset = 0
        self.line_number = 0
        self.pending_bytes = 0
        self.restarted = False
        self._size = -1

    def poll(self):
        self.restarted = False
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            size = 0
        if size < self.offset:
            self.offset = 0
            self.line_number = 0
            self.restarted = True
        if size == self.offset:
            self.pending_bytes = 0
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(size - self.offset)
        lines = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            self.line_number += 1
            raw = data[start:end]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if raw.strip():
                big = len(raw) > self.max
                lines.append(Line(self.line_number, self.offset + start, None if big else raw, big, len(raw)))
            start = end + 1
        self.offset += start
        self.pending_bytes = len(data) - start
        return lines


def stamp(path):
    """Modification time, size and inode of a file, or None when it does not exist: a change is noticed with one stat."""
    try:
        st = os.stat(path)
        return (st.st_mtime_ns, st.st_size, st.st_ino)
    except FileNotFoundError:
        return None
