"""Benchmark: training throughput (clips/s) and epoch time on this machine.

Trains a model (default: 2×GRU(128), our cell) for a few epochs on cached features of a
dataset (default: the synthetic set, made if missing) and prints each epoch's wall time
and clips per second (the balanced epoch's clips / time, validation included); the first
epoch includes tracing, so the steady figures leave it out.

    python scripts/bench_train.py [--data data/synth] [--epochs 4] [--batch 64] [--cell keras]
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from speechgru.config import FeatureConfig, ModelConfig, RunConfig, TrainConfig
from speechgru.training.data import plan_splits, prepare
from speechgru.training.sampling import epoch_indices
from speechgru.training.train import train


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/synth")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--units", default="128,128")
    ap.add_argument("--cell", default="custom", choices=["custom", "keras"])
    args = ap.parse_args()
    if not Path(args.data, "yes").is_dir():
        from speechgru.synth import synthesize_dataset

        synthesize_dataset(args.data, per_word=60, seed=0)
    units = tuple(int(u) for u in args.units.split(","))
    config = RunConfig(FeatureConfig(), ModelConfig(units=units, cell=args.cell),
                       TrainConfig(epochs=args.epochs, batch_size=args.batch, patience=1000))
    cache = ".cache/features"
    prep = prepare(plan_splits([args.data], config)[0], config, cache_dir=cache,
                   progress=False)
    clips = math.ceil(len(epoch_indices(prep.y_train, prep.labels, config, 0)) / args.batch) \
        * args.batch
    with tempfile.TemporaryDirectory() as tmp:
        train([args.data], Path(tmp) / "run", config, cache_dir=cache, verbose=0)
        with open(Path(tmp) / "run" / "history.csv") as f:
            seconds = [float(r["seconds"]) for r in csv.DictReader(f)]
    print(f"{args.data}: {clips} clips per epoch (balanced), model {units} with the "
          f"{args.cell} cell, batch {args.batch}, {os.cpu_count()} cores")
    for i, s in enumerate(seconds, 1):
        print(f"  epoch {i}: {s:6.2f} s  {clips / s:7.0f} clips/s")
    steady = seconds[1:] or seconds
    mean = sum(steady) / len(steady)
    print(f"steady: {mean:.2f} s per epoch, {clips / mean:.0f} clips/s")


if __name__ == "__main__":
    main()
