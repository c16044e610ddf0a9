"""PyTorch on Kiln's engine benchmark task: MLP 784-256-128-10, batch 128, Adam(1e-3), Fashion-MNIST.

Run by `dotnet run -c Release --project bench/Kiln.Bench -- engine` when Debian's python3-torch is installed.
Prints `name value unit` lines like the Kiln benchmark. One thread: PyTorch's fastest setting on these machines.
"""
import argparse
import gzip
import struct
import time

import numpy as np
import torch

DATA = "/usr/share/datasets/fashion-mnist"


def read_images(path):
    with gzip.open(path, "rb") as f:
        _, n, rows, cols = struct.unpack(">IIII", f.read(16))
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(n, rows * cols).astype(np.float32) / 255.0


def read_labels(path):
    with gzip.open(path, "rb") as f:
        struct.unpack(">II", f.read(8))
        return np.frombuffer(f.read(), dtype=np.uint8).astype(np.int64)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(1)
    x_train = torch.from_numpy(read_images(f"{DATA}/train-images-idx3-ubyte.gz"))
    y_train = torch.from_numpy(read_labels(f"{DATA}/train-labels-idx1-ubyte.gz"))
    x_test = torch.from_numpy(read_images(f"{DATA}/t10k-images-idx3-ubyte.gz"))
    y_test = torch.from_numpy(read_labels(f"{DATA}/t10k-labels-idx1-ubyte.gz"))
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    n = x_train.shape[0]
    for epoch in range(1, args.epochs + 1):
        perm = torch.randperm(n)
        start = time.perf_counter()
        for i in range(0, n, 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - start
        with torch.no_grad():
            acc = (model(x_test).argmax(1) == y_test).float().mean().item()
        print(f"peer.pytorch_t1.samples_per_s.epoch{epoch} {n / seconds:.0f} samples/s")
        print(f"peer.pytorch_t1.test_accuracy.epoch{epoch} {acc:.4f} acc")


if __name__ == "__main__":
    main()
