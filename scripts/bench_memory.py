"""Benchmark: memory of `listen` and `predict` on long recordings (measured in one run).

Writes quiet noise recordings of ``--minutes`` (default 6 and 60 minutes, 16 kHz 16-bit
WAV) into a temporary folder, runs ``speechgru listen
MODEL FILE --json`` and ``speechgru predict MODEL FILE`` on each in a child process, and
prints each child's peak resident memory (``ru_maxrss``) and the ratio of the longest to
the shortest: bounded memory is a ratio near 1, whatever the length.

    python scripts/bench_memory.py [--model models/speech-commands-12] [--minutes 6 60]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf


def _write(path: Path, minutes: float, sr: int = 16000) -> None:
    """Pink-ish noise at a low level, written a minute at a time (this script stays small
    too)."""
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", sr, 1, subtype="PCM_16") as f:
        for _ in range(int(np.ceil(minutes))):
            y = np.cumsum(rng.standard_normal(60 * sr)).astype(np.float32)
            y -= np.convolve(y, np.ones(64) / 64, mode="same")
            f.write(0.01 * y / (np.abs(y).max() + 1e-9))


def _peak(argv: list[str]) -> tuple[float, float, int, str]:
    """(peak RSS in MB, seconds, exit code, last stderr line) of one child."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(p.pid, 0)
    err = p.stderr.read().strip().splitlines()
    return (usage.ru_maxrss / 1024, time.perf_counter() - t, os.waitstatus_to_exitcode(status),
            err[-1] if err else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/speech-commands-12")
    ap.add_argument("--minutes", type=float, nargs="+", default=[6.0, 60.0])
    args = ap.parse_args()
    speechgru = [sys.executable, "-m", "speechgru"]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            wav = Path(tmp) / f"{minutes:g}min.wav"
            _write(wav, minutes)
            for command in ("listen", "predict"):
                extra = ["--json"] if command == "listen" else []
                mb, s, code, last = _peak([*speechgru, command, args.model, str(wav), *extra])
                rows[(command, minutes)] = mb
                print(f"{command:<8}{minutes:>6g} min: peak {mb:7.1f} MB, {s:6.1f} s, exit "
                      f"{code}{'  (' + last + ')' if code else ''}", flush=True)
    lo, hi = min(args.minutes), max(args.minutes)
    for command in ("listen", "predict"):
        print(f"{command}: peak memory at {hi:g} min / at {lo:g} min = "
              f"{rows[(command, hi)] / rows[(command, lo)]:.2f} (the audio is "
              f"{hi / lo:g} times longer)")


if __name__ == "__main__":
    main()
