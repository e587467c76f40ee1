"""Benchmark: every TFLite file of an exported model directory, side by side, one thread.

Size, latency per 1 s clip and per hop (20 ms of new audio), and how many times faster than
real time each variant keeps up with a stream, measured in one run with the TF-free
interpreter (``ai_edge_litert``); then ``speechgru listen`` itself (the ``Listener``, Python
included) over 30 s of audio (best of 3 passes), float32 and int8, as × real time. A
whole-clip model must re-run the window at every hop; the streaming model runs
``frontend.tflite`` once (5 frames a call, as listen fed 0.1 s at a time) and
``stream_*.tflite`` once for all its staggered state copies (``--phases``, as ``speechgru
listen`` does; once per copy for a file fixed at batch 1).

    python scripts/bench_tflite.py models/demo [--reps 200] [--phases 4] [--batch 64]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from speechgru.config import FeatureConfig
from speechgru.runtime.tflite import FrameFrontend, StreamStep, quantize


def _median_ms(fn, reps: int) -> float:
    for _ in range(10):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def whole_clip(path: Path, reps: int) -> float:
    """ms per clip of a one-input model: the clip set (quantized for int8), run, read."""
    it = Interpreter(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    d, o = it.get_input_details()[0], it.get_output_details()[0]
    x = np.random.default_rng(0).normal(0, 5, d["shape"]).astype(np.float32)

    def run():
        it.set_tensor(d["index"], quantize(x, d))
        it.invoke()
        return it.get_tensor(o["index"])
    return _median_ms(run, reps)


def stepped_clips(path: Path, frames: int, n_mfcc: int, reps: int, clips: int = 1) -> float:
    """ms per clip of a ``stream_*`` model stepped over ``clips`` clips at once from zero
    states, as ``speechgru predict`` runs it."""
    step = StreamStep(path, n_mfcc)
    x = np.random.default_rng(0).normal(0, 5, (clips, frames, n_mfcc)).astype(np.float32)
    return _median_ms(lambda: step.clips(x), reps) / clips


def stream_step(path: Path, n_mfcc: int, reps: int, batch: int = 1, block: int = 5) -> float:
    """One step of ``batch`` streams as ``speechgru listen`` runs it: the frames quantized
    ``block`` at a time (int8: a fifth of one quantization per hop), the states carried in
    the model's types, no probabilities; a model fixed at batch 1 is called once per
    stream."""
    step = StreamStep(path, n_mfcc, batch=batch)
    rng = np.random.default_rng(0)
    frames = rng.normal(0, 5, (block * step.batch, n_mfcc)).astype(np.float32)
    codes = step.codes(frames[:step.batch])
    states = step.zero_states()
    calls = batch // step.batch
    quantize_ms = _median_ms(lambda: step.codes(frames), reps) / block
    return calls * _median_ms(lambda: step(codes, states, probabilities=False), reps) \
        + quantize_ms


def frontend_frame(path: Path, f: FeatureConfig, reps: int, block: int = 5) -> float:
    """ms per MFCC frame of ``frontend.tflite`` as listen runs it: ``block`` frames (0.1 s
    of audio) per call when the file is resizable."""
    front = FrameFrontend(path, f)
    pcm = np.random.default_rng(0).normal(0, 0.01, (block - 1) * f.hop_length + f.n_fft)
    pcm = pcm.astype(np.float32)
    return _median_ms(lambda: front.frames(pcm, block), reps) / block


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", nargs="?", default="models/demo")
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--phases", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64, help="clips at once for ×N ms/clip")
    args = ap.parse_args()
    d = Path(args.model_dir)
    f = FeatureConfig.load(d / "features.json")
    frames = f.num_frames
    front = frontend_frame(d / "frontend.tflite", f, args.reps) \
        if (d / "frontend.tflite").exists() else 0.0
    rows = []
    for path in sorted(d.glob("*.tflite")):
        name = path.stem
        if name == "frontend":
            continue
        if name.startswith("stream_"):  # the clip classifier as the step looped
            per_clip = stepped_clips(path, frames, f.n_mfcc, args.reps)
            many = stepped_clips(path, frames, f.n_mfcc, args.reps // 4, args.batch)
            per_hop = stream_step(path, f.n_mfcc, args.reps, args.phases) + front
        else:
            per_clip = many = whole_clip(path, args.reps)  # batch 1 in the file
            per_hop = per_clip  # the window is recomputed at every hop
        rows.append((name, path.stat().st_size / 1024, per_clip, many, per_hop))
    ref = dict((r[0], r) for r in rows)
    base = ref.get("wave_float32", ref.get("float32", rows[0]))
    print(f"{d}: {frames} frames per clip, one thread, medians of {args.reps} calls; "
          f"frontend.tflite {front:.4f} ms per frame")
    hop_ms = 1000 * f.hop_length / f.sample_rate
    print(f"{'file':<16}{'KiB':>9}{'ms/clip':>10}{f'×{args.batch} ms/clip':>15}"
          f"{'ms/hop':>10}{'× real time':>13}{'size ×':>9}{'hop speed-up ×':>16}")
    for name, kib, clip, many, hop in rows:
        print(f"{name:<16}{kib:>9.1f}{clip:>10.3f}{many:>15.3f}{hop:>10.4f}"
              f"{hop_ms / hop:>13.0f}{base[1] / kib:>9.2f}{base[4] / hop:>16.1f}")
    print(f"size × and hop speed-up × are relative to {base[0]} (raw audio in, whole "
          f"window per hop); ms/clip: one clip's MFCC in (wave_*: its samples), set, run "
          f"and read; stream_* looped over the {frames} frames; ×{args.batch}: per clip with "
          f"{args.batch} clips stepped at once (stream_*, as `predict` does for many "
          f"files); ms/hop of stream_* includes the frontend and {args.phases} staggered "
          "state copies (one call for all of them when the file's batch is resizable)")
    if "stream_float32" in ref:
        step = stream_step(d / "stream_float32.tflite", f.n_mfcc, args.reps)
        print(f"one stream_float32 step vs float32 whole clip: "
              f"{ref['float32'][2] / step:.1f}× less compute per hop")
    for variant in ("float32", "int8"):
        if f"stream_{variant}" in ref:
            print(f"speechgru listen, {variant}: {listen_speed(d, variant, f):.0f}× real time "
                  f"(30 s of audio through the Listener, Python included; best of 3)")


def listen_speed(model_dir: Path, variant: str, f: FeatureConfig, seconds: float = 30.0,
                 runs: int = 3) -> float:
    """Audio seconds per wall-clock second of ``Listener`` over noise fed in 0.1 s blocks:
    the best of ``runs`` passes (the machine is shared: the fastest pass is the one least
    disturbed)."""
    from speechgru.runtime.listener import Listener

    pcm = (np.random.default_rng(0).normal(0, 0.01, int(seconds * f.sample_rate))
           .astype(np.float32))
    lis = Listener(model_dir, variant=variant)
    block = f.sample_rate // 10
    best = np.inf
    for _ in range(runs):
        lis.reset()
        t = time.perf_counter()
        for i in range(0, len(pcm), block):
            lis.feed(pcm[i:i + block])
        lis.flush()
        best = min(best, time.perf_counter() - t)
    return seconds / best


if __name__ == "__main__":
    main()
