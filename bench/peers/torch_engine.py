"""PyTorch on Kiln's engine benchmark tasks (Fashion-MNIST, batch 128, Adam 1e-3):
  mlp  784-256-128-10
  cnn  the built-in trial CNN: conv3x3 16 (pad 1) -> ReLU -> pool 2 -> conv3x3 32 (pad 1) -> ReLU -> pool 2 -> fc 128 -> ReLU -> fc 10

Run by `dotnet run -c Release --project bench/Kiln.Bench -- engine` when Debian's python3-torch is installed; the
benchmark sets OPENBLAS_CORETYPE=Haswell and OPENBLAS_NUM_THREADS=1 for this process (PyTorch's fastest setting on
these machines) and passes the thread count. Prints `name value unit` lines like the Kiln benchmark.
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
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(n, 1, rows, cols).astype(np.float32) / 255.0


def read_labels(path):
    with gzip.open(path, "rb") as f:
        struct.unpack(">II", f.read(8))
        return np.frombuffer(f.read(), dtype=np.uint8).astype(np.int64)


def model_for(name):
    nn = torch.nn
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    x_train = torch.from_numpy(read_images(f"{DATA}/train-images-idx3-ubyte.gz"))
    y_train = torch.from_numpy(read_labels(f"{DATA}/train-labels-idx1-ubyte.gz"))
    x_test = torch.from_numpy(read_images(f"{DATA}/t10k-images-idx3-ubyte.gz"))
    y_test = torch.from_numpy(read_labels(f"{DATA}/t10k-labels-idx1-ubyte.gz"))
    model = model_for(args.model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    n = x_train.shape[0]
    name = f"engine.{args.model}.pytorch_t{args.threads}"
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
            correct = sum((model(x_test[i:i + 1000]).argmax(1) == y_test[i:i + 1000]).sum().item() for i in range(0, len(y_test), 1000))
        print(f"{name}.samples_per_s.epoch{epoch} {n / seconds:.0f} samples/s", flush=True)
        print(f"{name}.test_accuracy.epoch{epoch} {correct / len(y_test):.4f} acc", flush=True)


if __name__ == "__main__":
    main()
