"""``kiln.Run``: what a PyTorch training loop holds — the kernel, the metrics writer, ``kiln.run.json`` (status, pid,
heartbeat) and the stop request (SIGTERM, SIGINT, SIGHUP). The Python side of Kiln.Core's ``KilnRun``."""
import os
import signal
import socket
import sys
import threading
import time

from . import _files
from .kernel import Kernel, KernelEnv
from .metrics import MetricsWriter
from .replay import ReplayMissed

RUNNING, COMPLETED, FAILED, STOPPED = "running", "completed", "failed", "stopped"


class Run:
    """One training execution in ``run_dir``.

    ``kind`` says what started it (``run``: a loop of one's own); ``params`` are its hyper-parameters. While it lives,
    ``kiln.run.json`` says ``running`` and its heartbeat moves every ``heartbeat`` seconds; ``end()`` records
    ``completed`` (``stopped`` after a stop request), ``fail(ex)`` records ``failed``, and leaving a ``with`` block
    on an exception records ``failed`` with it.
    """

    def __init__(self, run_dir=None, kind="run", id=None, config=None, seed=None, params=None, poll_interval=0.005,
                 heartbeat=10.0, stop_on_signals=True, max_steps=None, git_dir=None, warn=None, owns_status=None):
        run_dir = run_dir or os.environ.get("KILN_RUN_DIR")
        if not run_dir:
            raise ValueError("kiln.Run needs a run directory (or KILN_RUN_DIR in the environment)")
        self.files = _files.RunFiles(run_dir)
        os.makedirs(self.files.dir, exist_ok=True)
        if owns_status is None:
            # Under `kiln train` / `trial` / `queue run` the parent holds the run's record (kiln.run.json, its lock);
            # the program speaks the rest of the protocol: the kernel and the metrics.
            parent_dir = os.environ.get("KILN_RUN_DIR")
            owns_status = not (parent_dir and os.environ.get("KILN_PARENT_PID")
                               and os.path.abspath(parent_dir) == self.files.dir)
        self.owns_status = owns_status
        self._lock = _files.FileLock.try_acquire(self.files.path(_files.RUN_LOCK), patience=0.5) if owns_status else None
        if owns_status and self._lock is None:
            raise RuntimeError(f"{self.files.dir}: another training process holds this run directory")
        self.kernel = Kernel(self.files.dir, poll_interval=poll_interval, warn=warn)
        self.env = KernelEnv(max_steps=max_steps, log=print)
        self.params = dict(params or {})
        self.stop_reason = None
        self._metrics_last = {}
        self._ended = False
        now = time.time()
        self._info = {
            "id": id or os.path.basename(self.files.dir), "kind": kind, "config": config, "seed": seed,
            "status": RUNNING, "pid": os.getpid(), "host": socket.gethostname(), "start": now, "end": None,
            "heartbeat": now, "git_commit": _git_commit(git_dir or os.getcwd()), "params": self.params or None,
            "error": None, "metrics": None, "kernel": "python",
        }
        self.metrics = MetricsWriter(self.files.path(_files.METRICS), on_failure=lambda why: self.request_stop(why))
        self._write_info()
        self._beat_stop = threading.Event()
        self._beat = threading.Thread(target=self._beat_loop, args=(heartbeat,), name="kiln-heartbeat", daemon=True)
        if owns_status:
            self._beat.start()
        self._old_handlers = {}
        if stop_on_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                self._old_handlers[sig] = signal.signal(sig, self._on_signal)
        self.loss = None
        self.optimizer = None

    # ---- the loop's calls ----------------------------------------------------------------------------------------
    def add_optimizer(self, optimizer, id="main", scheduler=None):
        """Exposes a ``torch.optim`` optimizer (with its LR scheduler, when it has one) or any optimizer actuator."""
        if hasattr(optimizer, "param_groups"):
            from .pytorch import TorchOptimizer
            optimizer = TorchOptimizer(optimizer, scheduler)
        self.kernel.add_optimizer(optimizer, id)
        if id == "main":
            self.optimizer = optimizer
        return optimizer

    def add_loss(self, weights, id="main"):
        """Exposes a weighted multi-term loss: a ``{term: weight}`` dict (read ``run.loss.weight(term, step)``) or a
        loss actuator."""
        if isinstance(weights, dict):
            from .pytorch import WeightedLoss
            weights = WeightedLoss(weights)
        self.kernel.add_loss(weights, id)
        if id == "main":
            self.loss = weights
        return weights

    def add_callback(self, callback, enabled=True):
        self.kernel.add_callback(callback, enabled)

    def add_module(self, module):
        self.kernel.add_module(module)

    def log(self, step, metrics, epoch=None, phase="train"):
        """Queues one line of ``kiln.metrics.jsonl``; never waits for the disk."""
        clean = self.metrics.write(step, metrics, epoch, phase)
        self._metrics_last.update(clean)
        self.env["metrics"].update(clean)
        if epoch is not None:
            self.env["epoch"] = epoch
        if phase is not None:
            self.env["phase"] = phase

    def apply(self, step, event="train_step_end"):
        """A safe point: the kernel applies what is due (commands, replay, callbacks)."""
        self.kernel.apply(step, event, self.env)

    @property
    def should_stop(self):
        """A stop was asked for (a signal, ``request_stop``, a metrics file that cannot be written): end the loop."""
        return self.stop_reason is not None

    def request_stop(self, reason="stop requested"):
        if self.stop_reason is None:
            self.stop_reason = reason

    def set_params(self, **values):
        self.params.update(values)
        self._info["params"] = dict(self.params)
        self._write_info()

    def end(self, step=None):
        """Training finished: ``completed`` (``stopped`` after a stop request; ``failed`` when a strict replay missed)."""
        if self._ended:
            return
        try:
            self.kernel.end(step, self.env)
        except ReplayMissed as ex:
            self._finish(FAILED, str(ex))
            raise
        except BaseException as ex:
            self._finish(FAILED, f"{type(ex).__name__}: {ex}")
            raise
        if self.metrics.failure is not None:
            self._finish(FAILED, self.metrics.failure)
        elif self.stop_reason is not None and not self.stop_reason.startswith("kiln.metrics"):
            self._finish(STOPPED, None)
        else:
            self._finish(COMPLETED, None)

    def fail(self, error):
        if self._ended:
            return
        self.kernel.close()
        self._finish(FAILED, error if isinstance(error, str) else f"{type(error).__name__}: {error}")

    def close(self):
        """Leaving without ``end``: ``stopped`` when a stop was asked for, else ``failed`` — never ``completed``."""
        if self._ended:
            return
        self.kernel.close()
        if self.stop_reason is not None:
            self._finish(STOPPED, None)
        else:
            self._finish(FAILED, "the training loop ended without calling end()")

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if value is not None and not self._ended:
            if isinstance(value, KeyboardInterrupt):
                self.request_stop("SIGINT")
                self.close()
            else:
                self.fail(value)
        else:
            self.close()
        return False

    # ---- inside ----------------------------------------------------------------------------------------------------
    def _on_signal(self, signum, frame):
        name = signal.Signals(signum).name
        if self.stop_reason is not None and self.stop_reason.startswith("SIG"):
            # A second signal exits at once; the record still says how the run ended.
            self.kernel.close()
            self._finish(STOPPED, None)
            os._exit(128 + signum)
        self.request_stop(name)

    def _finish(self, status, error):
        self._ended = True
        self._beat_stop.set()
        self.metrics.close()
        if self.metrics.failure is not None and status != FAILED:
            status, error = FAILED, self.metrics.failure
        self._info.update(status=status, error=error, end=time.time(), heartbeat=None,
                          metrics=dict(self._metrics_last) or None)
        self._write_info()
        for sig, handler in self._old_handlers.items():
            try:
                signal.signal(sig, handler)
            except (ValueError, TypeError):
                pass
        self._old_handlers = {}
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _beat_loop(self, interval):
        while not self._beat_stop.wait(interval):
            if self._ended:
                return
            self._info["heartbeat"] = time.time()
            self._write_info()

    _info_lock = threading.Lock()

    def _write_info(self):
        if not self.owns_status:
            return
        with self._info_lock:
            try:
                _files.write_json_atomic(self.files.path(_files.RUN), self._info)
            except OSError as ex:
                print(f"kiln: {_files.RUN}: {ex}", file=sys.stderr)


def _git_commit(folder):
    """The code's commit, read from the repository's files (no git process)."""
    d = os.path.abspath(folder)
    while True:
        head = os.path.join(d, ".git", "HEAD")
        if os.path.isfile(head):
            try:
                with open(head) as f:
                    ref = f.read().strip()
                if not ref.startswith("ref: "):
                    return ref or None
                name = ref[5:]
                loose = os.path.join(d, ".git", name)
                if os.path.isfile(loose):
                    with open(loose) as f:
                        return f.read().strip() or None
                packed = os.path.join(d, ".git", "packed-refs")
                if os.path.isfile(packed):
                    with open(packed) as f:
                        for line in f:
                            parts = line.split()
                            if len(parts) == 2 and parts[1] == name:
                                return parts[0]
            except OSError:
                return None
            return None
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent
