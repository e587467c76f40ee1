"""Context beyond the window, tried as a pause gate: would a command be told from talk by
the quiet before and after it? For a run, the room of its test speakers (``evaluate-stream
--talk``'s, float32) is heard once with every frame's level (the mean log-mel level, dB,
from MFCC c0); each detection at ``--threshold`` gets its dip before (the loud part's
100 ms-smoothed peak within ±0.35 s less the quietest 100 ms in 0.25–1.0 s before it) and
after (0.25–0.6 s after it); printed: the share of found commands and of false alarms in
talk a gate of each depth would keep.

    python scripts/bench_pause_gate.py RUN [--threshold 0.7] [--smoothing 2]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from speechgru.data.talk import read_talk
from speechgru.run_dir import RunDir
from speechgru.runtime.listener import Decider
from speechgru.stream_eval import export_stream
from speechgru.talk_eval import NOISE_ALONE, SPEECH, Hearing, _noise_regions

TALK = Path(__file__).resolve().parents[2] / "shared" / "data" / "continuous_speech"


def _dips(heard, t: float) -> tuple[float, float]:
    sr, hop, n_fft, _ = heard.geometry
    now = int((t + 0.6) * sr / hop)  # what has been heard when the detection is made

    def span(t0, t1):
        lo = max(0, int(np.ceil((t0 * sr - n_fft / 2) / hop)))
        hi = min(now, int(np.floor((t1 * sr - n_fft / 2) / hop)), len(heard.levels) - 1)
        x = heard.levels[lo:hi + 1] if hi >= lo else np.zeros(0)
        return np.convolve(x, np.ones(5) / 5, "valid") if len(x) >= 5 else x

    loud, before, after = span(t - 0.35, t + 0.35), span(t - 1.0, t - 0.25), \
        span(t + 0.25, t + 0.6)
    peak = loud.max() if len(loud) else np.nan
    return (peak - before.min() if len(before) else np.inf,
            peak - after.min() if len(after) else np.inf)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run")
    ap.add_argument("--threshold", type=float, default=0.7)
    ap.add_argument("--smoothing", type=int, default=2)
    ap.add_argument("--talk", default=str(TALK))
    args = ap.parse_args()
    run = RunDir(args.run)
    clips = run.split("test")
    sentences = [s for s in read_talk(args.talk) if s.split == "test"]
    with tempfile.TemporaryDirectory() as tmp:
        model = export_stream(run, Path(tmp) / "model", "float32")
        h = Hearing(model, "float32", clips, sentences, _noise_regions(run, None, clips, "test"),
                    progress=False)
    for name, heard, truth in (("room", h.room, h.truth), ("sentences alone", h.alone,
                                                            h.alone_truth)):
        words = [e for e in truth if e["label"] not in (SPEECH, NOISE_ALONE)]
        talk = [e for e in truth if e["label"] == SPEECH]
        cmd, fa = [], []
        for d in Decider(heard.labels, args.threshold, args.smoothing).replay(heard.centres,
                                                                             heard.probs):
            t = d["time"]
            w = [e for e in words if e["start"] - 0.5 <= t <= e["end"] + 0.5]
            if w and not w[0]["label"].startswith("_"):
                cmd.append(_dips(heard, t))
            elif not w and any(e["start"] <= t <= e["end"] for e in talk):
                fa.append(_dips(heard, t))
        cmd, fa = np.array(cmd).reshape(-1, 2), np.array(fa).reshape(-1, 2)
        print(f"{name}: {len(cmd)} commands found, {len(fa)} false alarms in talk at "
              f"{args.threshold} (smoothing {args.smoothing})")
        def kept(x, g, both=True):
            if not len(x):
                return float("nan")
            return float(np.mean(x.min(axis=1) >= g if both else x[:, 0] >= g))

        for g in (6, 10, 15, 20):
            print(f"  a dip of {g:2d} dB before and after: commands kept {kept(cmd, g):.2f}, "
                  f"false alarms kept {kept(fa, g):.2f}; before only: "
                  f"{kept(cmd, g, False):.2f} / {kept(fa, g, False):.2f}")


if __name__ == "__main__":
    main()
