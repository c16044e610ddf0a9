"""A PyTorch training loop steered by Kiln: a small MLP regressing synthetic data, deterministic for a seed.

    python mlp.py runs/mlp --steps 300                 # then, while it trains:
    kiln --dir runs/mlp set lr=0.003                  # the optimizer changes at the next step
    kiln --dir runs/mlp loss set_params l1_w=0.5            # so does the loss mix

Under `kiln train` (KILN_RUN_DIR set by the parent) it also records its architecture, hyper-parameters and weights.
"""
import argparse
import time

import torch
import torch.nn.functional as F

import kiln
from kiln import sdk


def main():
    p = argparse.ArgumentParser()
    p.add_argument("run_dir", nargs="?", help="the run directory (default: KILN_RUN_DIR)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--sleep", type=float, default=0.0, help="seconds per step, to watch it")
    a = p.parse_args()

    torch.manual_seed(a.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(a.seed)
    x = torch.randn(512, 8, generator=g)
    y = x @ torch.randn(8, 1, generator=g) + 0.1 * torch.randn(512, 1, generator=g)

    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=100, gamma=0.5)
    sdk.model(model, input_shape=(1, 8))
    cfg = sdk.param(lr=a.lr, steps=a.steps, seed=a.seed, optimizer="adam")

    with kiln.Run(a.run_dir, seed=a.seed, params=cfg, max_steps=a.steps) as run:
        run.add_optimizer(opt, scheduler=sched)
        loss_mix = run.add_loss({"mse": 1.0, "l1": 0.0})
        for step in range(a.steps):
            if run.should_stop:
                break
            i = (step * 64) % 512
            pred = model(x[i:i + 64])
            loss = loss_mix.combine(step, {"mse": F.mse_loss(pred, y[i:i + 64]), "l1": F.l1_loss(pred, y[i:i + 64])})
            lr = opt.param_groups[0]["lr"]
            opt.zero_grad()
            loss.backward()
            run.optimizer.clip(model.parameters())
            opt.step()
            sched.step()
            run.log(step, {"train_loss": loss.item(), "lr": lr})
            run.apply(step, "train_step_end")
            if a.sleep:
                time.sleep(a.sleep)
        run.end()
    with torch.no_grad():
        print(f"final_mse={F.mse_loss(model(x), y).item():.6f}")


if __name__ == "__main__":
    main()
