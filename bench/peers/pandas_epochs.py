"""pandas on Kiln's epoch-log task: batch_log.csv reduced to one row per (epoch, mode).

Run by Kiln.Bench's EpochLogBench (with Debian's /usr/bin/python3 and python3-pandas) as a whole process, once per
measurement, beside `kiln trials epochs`:
    pandas_epochs.py BATCH_LOG OUT_CSV [--repeat N]
Each run reads the CSV, aggregates and writes OUT_CSV; prints `name value unit` lines like the Kiln benchmark,
the best run as peer.pandas.epoch_log_seconds and the first as peer.pandas.epoch_log_first_seconds (in process,
without Python's start-up and pandas's import).
"""
import argparse
import time

import pandas as pd

# The reductions of Kiln.Metrics.Epochs.EpochLog.Reductions; other numeric columns take the mean.
REDUCTIONS = {
    "loss": "mean",
    "acc": "mean",
    "lr": "last",
    "iter_budget": "last",
    "grad_norm": "median",
    "error_min": "median",
    "error_med": "median",
    "error_max": "median",
    "iter_min": "median",
    "iter_med": "median",
    "iter_max": "median",
    "time": "max",
}
KEYS = ["epoch", "mode"]


def aggregate(src, dst):
    df = pd.read_csv(src)
    columns = [c for c in df.columns
               if c not in KEYS and c != "batch" and pd.api.types.is_numeric_dtype(df[c])]
    groups = df.groupby(KEYS, sort=False)
    out = groups.agg({c: REDUCTIONS.get(c, "mean") for c in columns})
    out["n_batches"] = groups.size()
    out.reset_index().to_csv(dst, index=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("batch_log")
    parser.add_argument("out_csv")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        aggregate(args.batch_log, args.out_csv)
        times.append(time.perf_counter() - start)
    print(f"peer.pandas.epoch_log_seconds {min(times):.4f} s  # pandas {pd.__version__}, read_csv + groupby.agg + to_csv, best of {len(times)}")
    print(f"peer.pandas.epoch_log_first_seconds {times[0]:.4f} s")


if __name__ == "__main__":
    main()
