"""Real PyTorch: the optimizer actuator on torch.optim, a training loop steered from `kiln --dir … set lr=…`, a run
frozen, exported and replayed to the same metrics, `kiln train` recording a torch script, numb's fingerprint."""
import json
import os
import shutil
import subprocess
import sys
import time
import unittest

from support import CLIENT, HAVE_TORCH, TempDir, child_env, kiln_bin, needs_kiln, needs_torch

import kiln
from kiln import dials as K

MLP = os.path.join(CLIENT, "examples", "mlp.py")


def _kiln(cwd, *args, timeout=120):
    return subprocess.run([kiln_bin(), "--plain", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _metrics(run_dir):
    with open(os.path.join(run_dir, "kiln.metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def _wait_for(predicate, what, limit=120):
    # A bound on waiting for another process, not a performance limit: generous, and said when it runs out.
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {limit} s for {what}")
        time.sleep(0.02)


@needs_torch
class TorchActuatorTests(unittest.TestCase):
    def test_lr_betas_weight_decay_momentum_and_the_scheduler(self):
        import torch
        w = torch.nn.Parameter(torch.zeros(3))
        opt = torch.optim.AdamW([{"params": [w], "lr": 0.1, "name": "head"}], lr=0.1, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        a = kiln.pytorch.TorchOptimizer(opt, sched) if hasattr(kiln, "pytorch") else __import__("kiln.pytorch", fromlist=["x"]).TorchOptimizer(opt, sched)
        self.assertEqual(["head"], a.groups)
        self.assertFalse(a.supports(K.MOMENTUM))
        a.set(0, K.LR, 0.05, 0)
        a.set(0, K.BETA1, 0.8, 0)
        a.set(0, K.WEIGHT_DECAY, 0.2, 0)
        self.assertEqual((0.05, (0.8, 0.999), 0.2), (opt.param_groups[0]["lr"], opt.param_groups[0]["betas"], opt.param_groups[0]["weight_decay"]))
        for _ in range(2):
            opt.step()
            sched.step()
        self.assertAlmostEqual(0.025, opt.param_groups[0]["lr"])  # the schedule goes on from the rate set
        a.set(0, K.SCHEDULER_SCALE, 2.0, 2)
        self.assertAlmostEqual(0.05, opt.param_groups[0]["lr"])
        a.set(0, K.SCHEDULER_SCALE, 1.0, 2)
        self.assertAlmostEqual(0.025, opt.param_groups[0]["lr"])
        sgd = torch.optim.SGD([w], lr=0.1, momentum=0.9)
        s = __import__("kiln.pytorch", fromlist=["x"]).TorchOptimizer(sgd)
        self.assertTrue(s.supports(K.MOMENTUM))
        self.assertFalse(s.supports(K.BETA1))
        s.set(0, K.MOMENTUM, 0.5, 0)
        self.assertEqual(0.5, sgd.param_groups[0]["momentum"])
        w.grad = torch.full((3,), 10.0)
        s.clip_norm = 1.0
        self.assertGreater(s.clip([w]), 17)
        self.assertAlmostEqual(1.0, float(w.grad.norm()), places=5)

    def test_the_fingerprint_names_the_architecture_and_matches_the_documented_example(self):
        import torch
        from kiln import sdk
        net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())
        # docs/protocol.md: Sequential(Linear(2, 3), ReLU()) is sha256:8b9a74d9…
        self.assertEqual("sha256:8b9a74d947ac35daad04b2027e8a7cdad329880bca74cd10483de4449f9ff335", sdk.fingerprint(net))
        other = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())
        self.assertEqual(sdk.fingerprint(net), sdk.fingerprint(other))
        self.assertNotEqual(sdk.fingerprint(net), sdk.fingerprint(torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU())))
        conv = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, stride=2, padding=1))
        self.assertEqual({"stride": 2, "padding": 1}, sdk.describe(conv)[1]["attributes"])
        self.assertNotEqual(sdk.fingerprint(conv), sdk.fingerprint(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, stride=1, padding=1))))

    def test_safetensors_round_trip(self):
        import torch
        from kiln import sdk
        with TempDir("st") as d:
            net = torch.nn.Sequential(torch.nn.Linear(4, 2))
            sdk.save_safetensors(d.file("w.safetensors"), dict(net.state_dict()), {"fingerprint": sdk.fingerprint(net)})
            tensors, meta = sdk.load_safetensors(d.file("w.safetensors"))
            self.assertEqual(sdk.fingerprint(net), meta["fingerprint"])
            for k, v in net.state_dict().items():
                self.assertTrue(torch.equal(v, tensors[k]))


@needs_torch
@needs_kiln
class SteeredTorchTests(unittest.TestCase):
    def test_set_lr_from_the_cli_changes_the_optimizer_at_the_next_step(self):
        with TempDir("steer") as d:
            run = d.file("run")
            child = subprocess.Popen([sys.executable, MLP, run, "--steps", "400", "--sleep", "0.01"], env=child_env())
            try:
                _wait_for(lambda: os.path.exists(os.path.join(run, "kiln.metrics.jsonl")) and _metrics(run), "the first metrics")
                status = _kiln(d.path, "--dir", run, "status", "--json")
                self.assertEqual(0, status.returncode, status.stderr)
                sent = _kiln(d.path, "--dir", run, "set", "lr=0.003", "--wait", "60", "--json")
                self.assertEqual(0, sent.returncode, sent.stdout + sent.stderr)
                decision = json.loads(sent.stdout)["decision"]
                self.assertEqual("applied", decision["decision"])
                at = decision["step"]
            finally:
                self.assertEqual(0, child.wait(timeout=300))
            lr = {m["step"]: m["metrics"]["lr"] for m in _metrics(run)}
            self.assertNotEqual(0.003, lr[at])
            self.assertAlmostEqual(0.003, lr[at + 1], places=12)
            info = json.load(open(os.path.join(run, "kiln.run.json")))
            self.assertEqual(("completed", "python"), (info["status"], info["kernel"]))

    def test_a_frozen_exported_and_replayed_run_reproduces_its_metrics_exactly(self):
        with TempDir("replay") as d:
            first = d.file("first")
            child = subprocess.Popen([sys.executable, MLP, first, "--steps", "300", "--sleep", "0.005"], env=child_env())
            try:
                _wait_for(lambda: os.path.exists(os.path.join(first, "kiln.metrics.jsonl")) and len(_metrics(first)) > 20, "20 steps")
                for args in (["set", "lr=0.004"], ["loss", "set_params", "l1_w=0.5"], ["set", "weight_decay=0.001"]):
                    r = _kiln(d.path, "--dir", first, *args, "--wait", "60")
                    self.assertEqual(0, r.returncode, r.stdout + r.stderr)
            finally:
                self.assertEqual(0, child.wait(timeout=300))
            exported = _kiln(d.path, "--dir", first, "recipe", "export")
            self.assertEqual(0, exported.returncode, exported.stdout + exported.stderr)
            second = d.file("second")
            os.makedirs(second)
            shutil.copy(os.path.join(first, "kiln.recipe.jsonl"), second)
            made = _kiln(d.path, "--dir", second, "init")
            self.assertEqual(0, made.returncode, made.stdout + made.stderr)
            frozen = _kiln(d.path, "--dir", second, "freeze", "--mode", "replay", "--policy", "strict")
            self.assertEqual(0, frozen.returncode, frozen.stdout + frozen.stderr)
            r = subprocess.run([sys.executable, MLP, second, "--steps", "300"], env=child_env(), capture_output=True, text=True)
            self.assertEqual(0, r.returncode, r.stderr)
            a = [(m["step"], m["metrics"]) for m in _metrics(first)]
            b = [(m["step"], m["metrics"]) for m in _metrics(second)]
            self.assertEqual(a, b)
            replayed = [json.loads(l) for l in open(os.path.join(second, "kiln.applied.jsonl"))]
            self.assertEqual(3, len([l for l in replayed if l["source"] == "replay" and l["decision"] == "applied"]))

    def test_a_python_callback_loads_live_from_the_cli(self):
        with TempDir("cbcli") as d:
            run = d.file("run")
            src = d.file("probe.py")
            with open(src, "w") as f:
                f.write("class Probe:\n    def __init__(self, id, path):\n        self.id, self.path = id, path\n"
                        "    def set_params(self, **kw): pass\n"
                        "    def handle(self, event, env):\n        open(self.path, 'a').write(f\"{env['step']}\\n\")\n")
            child = subprocess.Popen([sys.executable, MLP, run, "--steps", "300", "--sleep", "0.01"], env=child_env())
            try:
                _wait_for(lambda: os.path.exists(os.path.join(run, "kiln.run.json")), "the run")
                r = _kiln(d.path, "--dir", run, "cb", "load", "probe", "--file", src, "--symbol", "Probe", "--enabled",
                          "--init", f"path={d.file('seen.txt')}", "--wait", "60")
                self.assertEqual(0, r.returncode, r.stdout + r.stderr)
            finally:
                self.assertEqual(0, child.wait(timeout=300))
            self.assertTrue(os.path.getsize(d.file("seen.txt")) > 0)
            self.assertEqual(1, len(os.listdir(os.path.join(run, "kiln.sources"))))


@needs_torch
@needs_kiln
class KilnTrainTests(unittest.TestCase):
    def test_kiln_train_records_a_torch_script_with_its_snapshot_and_weights(self):
        with TempDir("train") as d:
            root = d.file("project")
            os.makedirs(root)
            shutil.copy(MLP, os.path.join(root, "train.py"))
            git = lambda *a: subprocess.run(["git", *a], cwd=root, check=True, capture_output=True, text=True).stdout
            git("init", "-q", "-b", "main")
            git("-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
            git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
            init = _kiln(root, "workspace", "init")
            self.assertEqual(0, init.returncode, init.stderr)
            config = json.load(open(os.path.join(root, "kiln.json")))
            config["train"] = [[sys.executable, "train.py", "--steps", "60"]]
            json.dump(config, open(os.path.join(root, "kiln.json"), "w"))
            env = child_env()
            r = subprocess.run([kiln_bin(), "--plain", "train"], cwd=root, env=env, capture_output=True, text=True, timeout=300)
            self.assertEqual(0, r.returncode, r.stdout + r.stderr)
            self.assertRegex(r.stdout, r"code snapshot [0-9a-f]{12} \(refs/kiln/runs/")
            listed = subprocess.run([kiln_bin(), "--plain", "models", "--json"], cwd=root, env=env, capture_output=True, text=True)
            models = [m for g in json.loads(listed.stdout)["groups"] for m in g["models"]]
            self.assertEqual(1, len(models))
            import torch
            from kiln import sdk
            net = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
            self.assertEqual(sdk.fingerprint(net), models[0]["fingerprint"])
            self.assertEqual(0.01, models[0]["params"]["lr"])
            run = os.path.join(root, "runs", models[0]["id"])
            tensors, meta = sdk.load_safetensors(os.path.join(run, "weights.safetensors"))
            self.assertEqual(sdk.fingerprint(net), meta["fingerprint"])
            self.assertEqual(sorted(net.state_dict()), sorted(tensors))
            self.assertEqual(60, len(_metrics(run)))
            self.assertEqual("completed", json.load(open(os.path.join(run, "kiln.run.json")))["status"])


if __name__ == "__main__":
    unittest.main()
