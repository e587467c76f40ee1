"""Benchmark: Kokoro-82M synthesis speed, clips per second per core (measured in one run).

Speaks the ten commands with ``--voices`` of Kokoro's voices (each clip one word, as the
recipe makes them) once with 1 process and once with one process per core
(``--workers``), after a warm-up of each pool (loading the model is not counted), and
prints clips/s, clips/s per core and the speed-up. The target is at least 1 clip/s per
core.

    python scripts/bench_kokoro.py [--voices 6] [--workers 2] [--kokoro-voices FILE]
"""

from __future__ import annotations

import argparse
import os
import time

from speechgru.config import COMMANDS
from speechgru.synth.kokoro import KokoroEngine, KokoroVoice


def _rate(engine: KokoroEngine, jobs) -> float:
    engine.speak(jobs[:engine.workers])  # warm-up: the pool loads the model
    t = time.perf_counter()
    engine.speak(jobs)
    return len(jobs) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voices", type=int, default=6)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--kokoro-voices")
    args = ap.parse_args()
    engine = KokoroEngine(voices=args.kokoro_voices, workers=1, progress=False)
    names = list(engine.space.voices)[::max(1, len(engine.space.voices) // args.voices)]
    voices = [KokoroVoice(n, "gb" if n.startswith("b") else "us", 1.0)
              for n in names[:args.voices]]
    jobs = [(w, v) for v in voices for w in COMMANDS]
    one = _rate(engine, jobs)
    engine.workers = args.workers
    many = _rate(engine, jobs)
    print(f"{len(jobs)} clips: 1 process {one:.2f} clips/s; {args.workers} processes "
          f"{many:.2f} clips/s = {many / args.workers:.2f} clips/s per core "
          f"(speed-up {many / one:.2f}); target >= 1 clip/s per core")


if __name__ == "__main__":
    main()
