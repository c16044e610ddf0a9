"""What the Python tests share: the repository's folders, the kernel's import path, temporary run directories, the
published ``kiln`` binary and an interpreter that has torch."""
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(CLIENT))
if CLIENT not in sys.path:
    sys.path.insert(0, CLIENT)

try:
    import torch  # noqa: F401
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False

needs_torch = unittest.skipUnless(HAVE_TORCH, f"PyTorch is not importable by {sys.executable} (Debian: apt-get install python3-torch; scripts/setup.sh installs it)")


def kiln_bin():
    return os.environ.get("KILN_BIN")


needs_kiln = unittest.skipUnless(kiln_bin() and os.path.exists(kiln_bin() or ""), "KILN_BIN is not set to the published kiln (bash scripts/publish.sh; export KILN_BIN=$PWD/.kiln-bin/kiln)")


class TempDir:
    def __init__(self, name="t"):
        self.path = tempfile.mkdtemp(prefix=f"kiln-py-{name}-")

    def file(self, name):
        return os.path.join(self.path, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def child_env(**extra):
    """The environment for a child Python: this interpreter's kiln package on its path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = CLIENT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update({k: str(v) for k, v in extra.items()})
    return env
