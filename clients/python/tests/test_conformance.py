"""The conformance vectors of tests/conformance, which the C# kernel's tests (ConformanceTests) run too."""
import glob
import json
import os
import unittest

from support import REPO, TempDir

from kiln import Kernel, KernelEnv, LossDials, OptimizerDials, ReplayMissed

FOLDER = os.path.join(REPO, "tests", "conformance")
_KEYS = {"betas": "beta1"}


def run_vector(v):
    with TempDir("conformance") as d:
        for name, text in v["files"].items():
            with open(d.file(name), "wb") as f:
                f.write(text.encode("utf-8"))
        k = Kernel(d.path, poll_interval=0, warn=lambda m: None)
        for id_, o in v["optimizers"].items():
            supports = None if o["supports"] is None else [_KEYS.get(s, s) for s in o["supports"]] + (["beta2"] if "betas" in o["supports"] else [])
            k.add_optimizer(OptimizerDials(o["kind"], [(g[0], g[1], None) for g in o["groups"]], supports), id_)
        for id_, terms in v["losses"].items():
            k.add_loss(LossDials(terms), id_)
        env = KernelEnv(max_steps=v.get("max_steps"))
        raised = None
        try:
            for s in v["steps"]:
                _prepare(d, s)
                k.apply(s["step"], s["event"], env)
            if v.get("end") is not None:
                k.end(v["end"]["step"], env)
        except ReplayMissed as ex:
            raised = str(ex)
        finally:
            k.close()
        ledger = []
        with open(d.file("kiln.applied.jsonl")) as f:
            for line in f:
                o = json.loads(line)
                del o["wall_time"]
                if o.pop("traceback", None) is not None:
                    o["has_traceback"] = True
                ledger.append(o)
        actuators = _read(d.file("kiln.actuators.json"))
        return {"ledger": ledger, "actuators": None if actuators is None else actuators["actuators"],
                "freeze": _read(d.file("kiln.freeze.json")), "raises": raised}


def _read(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _prepare(d, s):
    inbox = d.file("kiln.commands.jsonl")
    with open(inbox, "ab") as f:
        for line in s.get("append") or []:
            f.write((line + "\n").encode("utf-8"))
        if s.get("torn") is not None:
            f.write(s["torn"].encode("utf-8"))
        if s.get("finish") is not None:
            f.write((s["finish"] + "\n").encode("utf-8"))
    for name, text in (s.get("write") or {}).items():
        with open(d.file(name), "wb") as f:
            f.write(text.encode("utf-8"))


def compare(expected, actual, path, problems):
    """Numbers by value, objects by keys, arrays in order; an expected string ending in … is a prefix."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            problems.append(f"{path}: expected an object, got {json.dumps(actual)}")
            return
        for key in list(expected) + [k for k in actual if k not in expected]:
            if key not in expected:
                problems.append(f"{path}.{key}: not expected, got {json.dumps(actual[key])}")
            elif key not in actual:
                problems.append(f"{path}.{key}: missing")
            else:
                compare(expected[key], actual[key], f"{path}.{key}", problems)
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            problems.append(f"{path}: expected {json.dumps(expected)}, got {json.dumps(actual)}")
            return
        for i, (e, a) in enumerate(zip(expected, actual)):
            compare(e, a, f"{path}[{i}]", problems)
    elif isinstance(expected, str) and expected.endswith("…"):
        if not isinstance(actual, str) or not actual.startswith(expected[:-1]):
            problems.append(f"{path}: expected text starting {expected[:-1]!r}, got {json.dumps(actual)}")
    elif isinstance(expected, bool) or expected is None or isinstance(expected, str):
        if expected != actual or type(expected) is not type(actual):
            problems.append(f"{path}: expected {json.dumps(expected)}, got {json.dumps(actual)}")
    elif isinstance(actual, bool) or not isinstance(actual, (int, float)) or float(expected) != float(actual):
        problems.append(f"{path}: expected {json.dumps(expected)}, got {json.dumps(actual)}")


class ConformanceTests(unittest.TestCase):
    def test_the_suite_has_vectors(self):
        self.assertGreaterEqual(len(glob.glob(os.path.join(FOLDER, "*.json"))), 10)


def _make(path):
    def test(self):
        with open(path) as f:
            v = json.load(f)
        self.assertIsNotNone(v.get("expect"), f"{path}: no expectations yet; the C# tests record them (tests/conformance/README.md)")
        problems = []
        compare(v["expect"], run_vector(v), "expect", problems)
        self.assertEqual([], problems, "\n".join(problems))
    return test


for _path in sorted(glob.glob(os.path.join(FOLDER, "*.json"))):
    _name = "test_" + os.path.basename(_path)[:-5].replace("-", "_")
    setattr(ConformanceTests, _name, _make(_path))
