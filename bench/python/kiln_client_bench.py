"""The Python client's figures (clients/python), printed as the bench program's ``name value unit  # note`` lines:

- ``python.idle_apply``: ``kernel.apply`` at a safe point with nothing due (default 5 ms poll interval), beside
  hotcb's 11.9 us (DESIGN §7; hotcb cannot be installed here, no PyPI, so its figure is the one recorded there);
- ``python.latency_p50/p99``: a command appended by another process → its ledger line, in a loop at 1,000 steps/s;
- ``python.torch_overhead``: the cost of ``run.log`` + ``run.apply`` per step on a PyTorch training step (the MLP
  784-256-128-10, batch 128, Adam; OPENBLAS_CORETYPE=Haswell, one thread), alternating runs with and without Kiln.

    python3 bench/python/kiln_client_bench.py [--applies N] [--commands N] [--steps N] [--rounds N]
"""
import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))

import kiln  # noqa: E402
from kiln import _files  # noqa: E402


def figure(name, value, unit, note=None):
    v = f"{value:.0f}" if abs(value) >= 100 else f"{value:.3f}" if abs(value) >= 1 else f"{value:.4f}"
    print(f"{name} {v} {unit}" + (f"  # {note}" if note else ""), flush=True)


def idle_apply(n):
    with tempfile.TemporaryDirectory() as d:
        k = kiln.Kernel(d)
        k.add_optimizer(kiln.OptimizerDials("adam", 0.001))
        k.add_loss(kiln.LossDials({"cls": 1.0}))
        env = kiln.KernelEnv()
        k.apply(0, "train_step_end", env)
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter_ns()
            for step in range(n):
                k.apply(step, "train_step_end", env)
            best = min(best, (time.perf_counter_ns() - t) / n)
        empty = float("inf")

        def nothing(step, event, env):
            return None
        for _ in range(5):
            t = time.perf_counter_ns()
            for step in range(n):
                nothing(step, "train_step_end", env)
            empty = min(empty, (time.perf_counter_ns() - t) / n)
        k.end()
    figure("python.idle_apply", best / 1000, "us", f"hotcb apply: 11.9 us (DESIGN 7) -> {11900 / best:.0f}x; target <= 1 us; "
           f"CPython's call of an empty function with the same arguments: {empty / 1000:.3f} us")


def _writer(run_dir, count, spacing):
    for i in range(count):
        time.sleep(spacing)
        _files.append_json(os.path.join(run_dir, _files.COMMANDS),
                           {"cid": f"lat{i}", "ts": time.time(), "module": "opt", "op": "set_params", "params": {"lr": 0.001 + i * 1e-7}})


def latency(count):
    with tempfile.TemporaryDirectory() as d:
        k = kiln.Kernel(d)
        k.add_optimizer(kiln.OptimizerDials("adam", 0.001))
        env = kiln.KernelEnv()
        k.apply(0, "train_step_end", env)
        writer = multiprocessing.Process(target=_writer, args=(d, count, 0.02))
        writer.start()
        step, period = 1, 0.001
        next_at = time.perf_counter()
        while writer.is_alive() or step < 50:
            next_at += period
            while time.perf_counter() < next_at:
                pass
            k.apply(step, "train_step_end", env)
            step += 1
        for _ in range(200):  # the last command's safe point
            k.apply(step, "train_step_end", env)
            step += 1
            time.sleep(period)
        k.end()
        sent = {}
        with open(os.path.join(d, _files.COMMANDS)) as f:
            for line in f:
                c = json.loads(line)
                sent[c["cid"]] = c["ts"]
        lags = []
        with open(os.path.join(d, _files.LEDGER)) as f:
            for line in f:
                entry = json.loads(line)
                if entry["cid"] in sent:
                    lags.append((entry["wall_time"] - sent[entry["cid"]]) * 1000)
        lags.sort()
    p = lambda q: lags[min(len(lags) - 1, int(round(q / 100 * (len(lags) - 1))))]
    figure("python.latency_p50", p(50), "ms", f"{len(lags)} commands, one every 20 ms, safe points at 1,000 steps/s; hotcb polls every call")
    figure("python.latency_p99", p(99), "ms", "target p99 <= 20 ms (the default poll interval is 5 ms)")


def torch_overhead(steps, rounds):
    try:
        import torch
    except ImportError:
        print(f"python.torch_overhead skipped  # {sys.executable} cannot import torch (Debian: python3-torch)")
        return
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(2048, 784)
    y = torch.randint(0, 10, (2048,))

    def one(with_kiln, d):
        model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        run = kiln.Run(d, stop_on_signals=False) if with_kiln else None
        if run:
            run.add_optimizer(opt)
        t = time.perf_counter()
        for step in range(steps):
            i = (step * 128) % 2048
            loss = torch.nn.functional.cross_entropy(model(x[i:i + 128]), y[i:i + 128])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if run:
                run.log(step, {"train_loss": loss.item()})
                run.apply(step, "train_step_end")
            else:
                loss.item()
        elapsed = time.perf_counter() - t
        if run:
            run.end()
        return elapsed / steps

    bare, steered = [], []
    with tempfile.TemporaryDirectory() as d:
        one(False, None)
        for r in range(rounds):
            bare.append(one(False, None))
            steered.append(one(True, os.path.join(d, f"r{r}")))
    b, s = statistics.median(bare), statistics.median(steered)
    with tempfile.TemporaryDirectory() as d:
        run = kiln.Run(d, stop_on_signals=False)
        n = 100_000
        t = time.perf_counter()
        for step in range(n):
            run.log(step, {"train_loss": 0.5})
            run.apply(step, "train_step_end")
        per_step = (time.perf_counter() - t) / n
        run.end()
    figure("python.log_and_apply", per_step * 1e6, "us", f"run.log + run.apply per step, alone ({n} steps): {per_step / b * 100:.3f} % of the bare torch step")
    figure("python.torch_step_bare", b * 1000, "ms", f"MLP 784-256-128-10, batch 128, Adam, torch {torch.__version__}, 1 thread, median of {rounds}x{steps} steps")
    figure("python.torch_step_kiln", s * 1000, "ms", "the same with run.log + run.apply every step")
    figure("python.torch_overhead", (s - b) / b * 100, "%", "target < 1 %")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--applies", type=int, default=1_000_000)
    p.add_argument("--commands", type=int, default=200)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--rounds", type=int, default=7)
    a = p.parse_args()
    print(f"# {sys.executable} {sys.version.split()[0]}", flush=True)
    idle_apply(a.applies)
    latency(a.commands)
    torch_overhead(a.steps, a.rounds)


if __name__ == "__main__":
    main()
