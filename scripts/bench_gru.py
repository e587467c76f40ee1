"""Benchmark: our GRU vs keras.layers.GRU, side by side in one run on this CPU.

Train-step time (batch 64, 49 frames, 40 features, 2×GRU(128)) and inference time, as
medians over interleaved repetitions, and the ratio ours/Keras.

    python scripts/bench_gru.py [--reps 30] [--batch 64]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from speechgru.config import ModelConfig
from speechgru.models.build import build_model, copy_weights


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--frames", type=int, default=49)
    ap.add_argument("--features", type=int, default=40)
    ap.add_argument("--units", type=int, nargs="+", default=[128, 128])
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(args.batch, args.frames, args.features)).astype("float32"))
    y = tf.constant(rng.integers(0, 12, args.batch).astype("int32"))
    models, steps, infers = {}, {}, {}
    for cell in ("custom", "keras"):
        cfg = ModelConfig(units=tuple(args.units), cell=cell, dropout=0.0)
        m = build_model(cfg, num_frames=args.frames, num_features=args.features,
                        num_classes=12)
        models[cell] = m
    copy_weights(models["custom"], models["keras"])
    for cell, m in models.items():
        opt = keras.optimizers.Adam(1e-3)
        loss_fn = keras.losses.SparseCategoricalCrossentropy()

        @tf.function
        def train_step(m=m, opt=opt, loss_fn=loss_fn):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, m(x, training=True))
            grads = tape.gradient(loss, m.trainable_variables)
            opt.apply_gradients(zip(grads, m.trainable_variables, strict=True))
            return loss

        @tf.function
        def infer(m=m):
            return m(x, training=False)

        steps[cell], infers[cell] = train_step, infer
    d = np.abs(infers["custom"]().numpy() - infers["keras"]().numpy()).max()
    times = {k: {"train": [], "infer": []} for k in models}
    for cell in models:  # warm up (tracing)
        for _ in range(3):
            steps[cell]().numpy()
            infers[cell]().numpy()
    for _ in range(args.reps):  # interleaved, so machine noise hits both alike
        for cell in models:
            t = time.perf_counter()
            steps[cell]().numpy()
            times[cell]["train"].append(time.perf_counter() - t)
            t = time.perf_counter()
            infers[cell]().numpy()
            times[cell]["infer"].append(time.perf_counter() - t)
    print(f"batch {args.batch}, {args.frames} frames x {args.features} features, "
          f"GRU units {args.units}, {args.reps} reps, max |Δ| of outputs {d:.2g}")
    print(f"{'':10}{'ours (ms)':>12}{'keras (ms)':>12}{'ours/keras':>12}")
    for kind in ("train", "infer"):
        a = statistics.median(times["custom"][kind]) * 1e3
        b = statistics.median(times["keras"][kind]) * 1e3
        print(f"{kind + ' step':10}{a:12.2f}{b:12.2f}{a / b:12.3f}")


if __name__ == "__main__":
    main()
