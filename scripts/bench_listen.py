"""listen's speed and decision latency with the second look on and off, in one run.

A recording of real talk with commands between the sentences (the talk's test speakers,
commands of the shared Speech Commands test speakers, noise under some of it: the room
benchmark's builder), heard by ``Listener`` on one thread with the model's verifier and
with ``verify=False``, in 0.1 s blocks, best of three passes each, alternating. Prints
the real-time factors, their ratio, how many candidates the verifier heard, and the
latency of each verified command: the stream time of the decision minus the end of the
word it fell on. Run::

    python scripts/bench_listen.py MODEL_DIR [--minutes 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def recording(model_dir: Path, minutes: float, seed: int = 0):
    from speechgru.data.layouts import scan_dataset
    from speechgru.data.talk import SCREENED, read_talk
    from speechgru.runtime.recognizer import _read_model_dir
    from speechgru.talk_eval import NoiseBed, room_stream

    _, features, labels = _read_model_dir(model_dir)
    sentences = [s for s in read_talk(SHARED / "continuous_speech")
                 if s.split == "test" and s.kind == SCREENED]
    ds = scan_dataset(SHARED / "speech_commands_v2_test_extra")
    rng = np.random.default_rng(seed)
    cmds = [c for c in ds.clips if c.label in labels and not c.label.startswith("_")]
    items = [(cmds[i], int(rng.integers(4))) for i in rng.permutation(len(cmds))[:400]]
    noise = sorted((SHARED / "noise").glob("*.wav"))
    bed = NoiseBed([(p, 0.0, None) for p in noise], features.sample_rate)
    truth: list[dict] = []
    pcm, total = [], 0
    for piece in room_stream(items, sentences, bed, truth, sample_rate=features.sample_rate,
                             seed=seed, noise_seconds=0):
        pcm.append(piece)
        total += len(piece)
        if total >= minutes * 60 * features.sample_rate:
            break
    return np.concatenate(pcm), truth, features.sample_rate


def hear(lis, pcm, block):
    lis.reset()
    found = []
    t = time.perf_counter()
    for i in range(0, len(pcm), block):
        found += lis.feed(pcm[i:i + block])
    found += lis.flush()
    return time.perf_counter() - t, found


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--variant", default="float32")
    args = ap.parse_args(argv)

    from speechgru.runtime.listener import Listener

    pcm, truth, sr = recording(args.model_dir, args.minutes)
    seconds = len(pcm) / sr
    on = Listener(args.model_dir, args.variant)
    off = Listener(args.model_dir, args.variant, verify=False)
    if on.verifier is None:
        print(f"{args.model_dir}: no verifier (a second look): nothing to compare")
        return 2
    # the same first-stage settings, so the ratio is the verifier's cost alone
    same = Listener(args.model_dir, args.variant, verify=False, threshold=on.threshold,
                    smoothing=on.smoothing)
    best = {"on": np.inf, "off": np.inf, "same": np.inf}
    found = {}
    for _ in range(3):
        for name, lis in (("on", on), ("off", off), ("same", same)):
            dt, got = hear(lis, pcm, sr // 10)
            best[name] = min(best[name], dt)
            found[name] = got
    words = [e for e in truth if not e["label"].startswith("_")]
    late = []
    for d in found["on"]:
        near = [e for e in words if e["start"] - 0.5 <= d["time"] <= e["end"] + 0.5]
        if near:
            late.append(d["decided"] - min(near, key=lambda e: abs(e["end"] - d["time"]))["end"])
    print(f"{seconds / 60:.1f} min of talk with {len(words)} commands, one thread, 0.1 s "
          "blocks, best of 3:")
    print(f"  with the second look: {seconds / best['on']:.0f}x real time "
          f"({len(found['same'])} candidates at {on.threshold:.2f}/{on.smoothing}, "
          f"{len(found['on'])} kept)")
    print(f"  the first stage alone at the same settings: {seconds / best['same']:.0f}x "
          f"(ratio {best['on'] / best['same']:.3f})")
    print(f"  the first stage alone at its own point: {seconds / best['off']:.0f}x")
    if late:
        q = np.percentile(late, [50, 90, 100])
        print(f"  decision after the word's end: median {q[0]:.2f} s, 90 % {q[1]:.2f} s, "
              f"max {q[2]:.2f} s ({len(late)} commands)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
