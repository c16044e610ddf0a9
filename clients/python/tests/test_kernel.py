"""The Python kernel's own behaviour beyond the shared vectors: callbacks from files (source capture, failure
isolation, replay from the capture), many concurrent writers, a killed kernel's torn ledger line, kiln.Run's record."""
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import unittest

from support import CLIENT, TempDir, child_env

import kiln
from kiln import _files

CALLBACK = textwrap.dedent("""
    class Probe:
        def __init__(self, id, every=1, path=None):
            self.id, self.every, self.path = id, every, path
        def set_params(self, **kw):
            if "every" in kw:
                self.every = int(kw["every"])
        def on_attach(self, env):
            open(self.path, "a").write("attach\\n")
        def handle(self, event, env):
            if env["step"] % self.every == 0:
                open(self.path, "a").write(f"{event} {env['step']}\\n")
            if env["step"] == 4:
                raise ValueError("four is bad")
        def close(self):
            open(self.path, "a").write("close\\n")
""")


def _send(run_dir, **command):
    _files.append_json(os.path.join(run_dir, _files.COMMANDS), command)


def _ledger(run_dir):
    with open(os.path.join(run_dir, _files.LEDGER)) as f:
        return [json.loads(line) for line in f]


class CallbackTests(unittest.TestCase):
    def test_a_python_file_loads_live_is_captured_isolated_when_it_throws_and_replays_from_its_capture(self):
        with TempDir("cb") as d:
            src, out = d.file("probe.py"), d.file("out.txt")
            with open(src, "w") as f:
                f.write(CALLBACK)
            run = os.path.join(d.path, "run")
            k = kiln.Kernel(run, poll_interval=0)
            k.apply(0, "train_step_end")
            _send(run, cid="c1", module="cb", op="load", id="probe", target={"kind": "file", "path": src, "symbol": "Probe"},
                  init={"every": 2, "path": out}, enabled=True)
            for step in range(1, 7):
                k.apply(step, "train_step_end")
            k.end(6)
            lines = _ledger(run)
            load = next(l for l in lines if l["cid"] == "c1")
            self.assertEqual("applied", load["decision"])
            capture = load["payload"]["source_capture"]
            with open(os.path.join(run, capture["captured_path"]), "rb") as f:
                self.assertEqual(CALLBACK.encode(), f.read())
            self.assertTrue(capture["captured_path"].endswith(".py"))
            failed = next(l for l in lines if l["op"] == "handle")
            self.assertEqual(("failed", 4, "cb"), (failed["decision"], failed["step"], failed["module"]))
            self.assertEqual("handle(train_step_end) threw ValueError: four is bad", failed["error"])
            self.assertIn("disabled", failed["notes"])
            with open(out) as f:
                self.assertEqual(["attach", "train_step_end 2", "train_step_end 4", "close"], f.read().split("\n")[:-1])

            # The original file changes; a replay of the exported load runs the captured code.
            with open(src, "w") as f:
                f.write("raise SystemExit('the changed file must not run')\n")
            entry = {"at": {"step": 1, "event": "train_step_end"}, "module": "cb", "op": "load", "id": "probe",
                     "target": load["payload"]["target"], "init": {"every": 100, "path": out}, "enabled": True,
                     "source_capture": capture}
            replay = os.path.join(d.path, "replay")
            os.makedirs(os.path.join(replay, "kiln.sources"))
            with open(os.path.join(run, capture["captured_path"]), "rb") as f, open(os.path.join(replay, capture["captured_path"]), "wb") as g:
                g.write(f.read())
            with open(os.path.join(replay, "kiln.recipe.jsonl"), "w") as f:
                f.write(json.dumps(entry) + "\n")
            with open(os.path.join(replay, "kiln.freeze.json"), "w") as f:
                json.dump({"mode": "replay", "recipe_path": "kiln.recipe.jsonl", "policy": "strict"}, f)
            k2 = kiln.Kernel(replay, poll_interval=0)
            for step in range(3):
                k2.apply(step, "train_step_end")
            k2.end(2)
            fired = [l for l in _ledger(replay) if l["source"] == "replay"]
            self.assertEqual(["applied"], [l["decision"] for l in fired])

    def test_a_file_that_does_not_load_fails_the_load_and_nothing_changes(self):
        with TempDir("cbbad") as d:
            bad = d.file("bad.py")
            with open(bad, "w") as f:
                f.write("def broken(:\n")
            k = kiln.Kernel(d.path, poll_interval=0)
            _send(d.path, cid="b1", module="cb", op="load", id="x", target={"kind": "file", "path": bad, "symbol": None})
            _send(d.path, cid="b2", module="cb", op="load", id="y", target={"kind": "file", "path": d.file("missing.py"), "symbol": None})
            _send(d.path, cid="b3", module="cb", op="load", id="z", target={"kind": "assembly", "path": "/x/My.dll", "symbol": None})
            k.apply(0, "train_step_end")
            k.end(0)
            lines = {l["cid"]: l for l in _ledger(d.path)}
            self.assertEqual(["failed"] * 3, [lines[c]["decision"] for c in ("b1", "b2", "b3")])
            self.assertTrue(lines["b1"]["error"].startswith("SyntaxError"))
            self.assertIn("source file not found", lines["b2"]["error"])
            self.assertIn(".NET code; this run's kernel is Python", lines["b3"]["error"])
            self.assertEqual([], [a for a in json.load(open(d.file(_files.ACTUATORS)))["actuators"] if a["module"] == "cb"])


def _writer(run_dir, n, who):
    for i in range(n):
        _send(run_dir, cid=f"w{who}-{i}", module="opt", op="set_params", params={"lr": 0.001 * (1 + i % 5)})


class ManyWritersTests(unittest.TestCase):
    def test_a_hundred_concurrent_writers_lose_nothing_and_each_command_is_decided_once(self):
        with TempDir("writers") as d:
            procs = [multiprocessing.Process(target=_writer, args=(d.path, 20, w)) for w in range(100)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            k = kiln.Kernel(d.path, poll_interval=0)
            k.add_optimizer(kiln.OptimizerDials("adam", 0.001))
            k.apply(0, "train_step_end")
            k.apply(1, "train_step_end")
            k.end(1)
            lines = _ledger(d.path)
            self.assertEqual(2000, len(lines))
            self.assertEqual(2000, len({l["cid"] for l in lines}))
            self.assertEqual({"applied"}, {l["decision"] for l in lines})


class RestartTests(unittest.TestCase):
    def test_a_kernel_killed_mid_run_loses_and_repeats_nothing_when_started_again(self):
        script = textwrap.dedent("""
            import sys, time, kiln
            k = kiln.Kernel(sys.argv[1], poll_interval=0)
            k.add_optimizer(kiln.OptimizerDials("adam", 0.001))
            step = 0
            while True:
                k.apply(step, "train_step_end"); step += 1; time.sleep(0.001)
        """)
        with TempDir("kill") as d:
            inbox = d.file(_files.COMMANDS)
            child = subprocess.Popen([sys.executable, "-c", script, d.path], env=child_env())
            try:
                for i in range(200):
                    _send(d.path, cid=f"k{i}", module="opt", op="set_params", params={"lr": 0.001 + i * 1e-6})
                    if i == 120:
                        child.send_signal(signal.SIGKILL)
            finally:
                child.kill()
                child.wait()
            # A torn ledger line, as a kernel killed while writing leaves one.
            with open(d.file(_files.LEDGER), "ab") as f:
                f.write(b'{"seq":99999,"cid":"torn')
            k = kiln.Kernel(d.path, poll_interval=0)
            k.add_optimizer(kiln.OptimizerDials("adam", 0.001))
            k.apply(0, "train_step_end")
            k.end(0)
            lines = _ledger(d.path)
            cids = [l["cid"] for l in lines if l["cid"]]
            self.assertEqual(sorted(f"k{i}" for i in range(200)), sorted(cids))
            self.assertEqual(list(range(1, len(lines) + 1)), [l["seq"] for l in lines])
            self.assertTrue(any(l["op"] == "recover" for l in lines))
            self.assertTrue(os.path.getsize(inbox) > 0)


class RunRecordTests(unittest.TestCase):
    def test_status_heartbeat_and_how_a_run_ends(self):
        with TempDir("run") as d:
            with kiln.Run(d.file("a"), params={"lr": 0.1}) as run:
                info = json.load(open(d.file("a/kiln.run.json")))
                self.assertEqual(("running", "python", os.getpid()), (info["status"], info["kernel"], info["pid"]))
                run.log(0, {"loss": 1.5, "bad": float("nan")})
                run.apply(0)
                run.end()
            info = json.load(open(d.file("a/kiln.run.json")))
            self.assertEqual(("completed", None, {"loss": 1.5}), (info["status"], info["heartbeat"], info["metrics"]))
            with open(d.file("a/kiln.metrics.jsonl")) as f:
                self.assertEqual({"loss": 1.5}, json.loads(f.readline())["metrics"])
            with self.assertRaises(ZeroDivisionError):
                with kiln.Run(d.file("b")):
                    1 / 0
            info = json.load(open(d.file("b/kiln.run.json")))
            self.assertEqual("failed", info["status"])
            self.assertIn("ZeroDivisionError", info["error"])
            with kiln.Run(d.file("c")):
                pass
            self.assertEqual("the training loop ended without calling end()", json.load(open(d.file("c/kiln.run.json")))["error"])

    def test_sigterm_stops_the_loop_and_the_run_says_stopped(self):
        script = textwrap.dedent("""
            import sys, time, kiln
            with kiln.Run(sys.argv[1]) as run:
                step = 0
                while not run.should_stop:
                    run.log(step, {"x": step}); run.apply(step); step += 1
                    if step == 1: print("ready", flush=True)  # after the first metrics, so the signal never comes before them
                    time.sleep(0.001)
                run.end()
        """)
        with TempDir("sig") as d:
            child = subprocess.Popen([sys.executable, "-c", script, d.file("r")], env=child_env(), stdout=subprocess.PIPE, text=True)
            self.assertEqual("ready", child.stdout.readline().strip())
            child.send_signal(signal.SIGTERM)
            self.assertEqual(0, child.wait())
            info = json.load(open(d.file("r/kiln.run.json")))
            self.assertEqual("stopped", info["status"])
            self.assertGreater(info["metrics"]["x"], -1)

    def test_a_second_run_in_the_same_directory_is_refused(self):
        with TempDir("two") as d:
            with kiln.Run(d.path) as run:
                with self.assertRaisesRegex(RuntimeError, "another training process"):
                    kiln.Run(d.path)
                run.end()


if __name__ == "__main__":
    unittest.main()
