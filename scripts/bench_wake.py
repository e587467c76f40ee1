"""A wake phrase in front of the commands ("computer, stop"), measured: ``listen MODEL
--after WAKE_MODEL --within S`` against the commands model alone, on real people.

Three streams, clean (no noise), the talk's *test* speakers (never trained on):

* **addressed**: for each command, one or two real sentences, a pause (0.3-1.2 s), a real
  take of the wake word by a person (``../shared/data/wake_words/WORD``, the whole take:
  its own silence around it), 0.1-0.4 s, the command, 0.3-1.2 s;
* **not addressed**: the same without the wake word (a command said in talk: with the
  wake phrase it should not count);
* **talk alone**: every screened sentence of the test speakers, one after another.

Commands: the commands model's run's *validation* split, real recordings only (the box's
validation speakers chose its epoch and points, never its weights). The wake model is a
run of ``train --words WORD`` (e.g. ``scripts/bench_own_word.py``'s), exported here.
Reported: commands found (within 0.75 s of the truth, the right label), wake takes
detected, false alarms per hour of talk, with and without the wake phrase in front.

    python scripts/bench_wake.py --wake runs/own-word-wake/computer-box-seed0 \\
        [--commands-run runs/speech-commands-12] [--model models/speech-commands-12]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TALK = SHARED / "continuous_speech"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wake", required=True, help="a finished run of the wake word")
    ap.add_argument("--commands-run", default="runs/speech-commands-12")
    ap.add_argument("--model", default="models/speech-commands-12")
    ap.add_argument("--within", type=float, default=4.0)
    ap.add_argument("--commands", type=int, default=150)
    ap.add_argument("--out", default="runs/bench-wake.json")
    args = ap.parse_args()

    from speechgru.audio import load_clip, read_audio, resample
    from speechgru.config import COMMANDS
    from speechgru.data.talk import SCREENED, read_talk
    from speechgru.run_dir import RunDir
    from speechgru.runtime.listener import AfterWake, Listener
    from speechgru.stream_eval import export_stream
    from speechgru.training.data import _real_rows

    sr = 16000
    rng = np.random.default_rng(0)
    wake_run = RunDir(args.wake)
    word = wake_run.config().train.words[0]
    takes = sorted((SHARED / "wake_words" / word).glob("*.ogg"))
    val = RunDir(args.commands_run).split("validation")
    clips = [c for c, real in zip(val, _real_rows(val), strict=True)
             if real and c.label in COMMANDS]
    clips = [clips[i] for i in rng.permutation(len(clips))[:args.commands]]
    sentences = [s for s in read_talk(TALK, words=(*COMMANDS, word))
                 if s.split == "test" and s.kind == SCREENED]

    def audio(path, clip=None):
        if clip is not None:
            return load_clip(path, sample_rate=sr, num_samples=sr, offset=clip.offset,
                             duration=clip.duration)
        y, rate = read_audio(path)
        return resample(y, rate, sr).astype(np.float32)

    def silence(a, b):
        return np.zeros(int(rng.uniform(a, b) * sr), np.float32)

    def stream(with_wake: bool):
        parts, truth, at = [], [], 0
        for i, c in enumerate(clips):
            for s in [sentences[int(rng.integers(len(sentences)))]
                      for _ in range(int(rng.integers(1, 3)))]:
                parts += [silence(0.3, 1.2), audio(s.path)]
            if with_wake:
                parts += [silence(0.3, 1.2), audio(takes[i % len(takes)]), silence(0.1, 0.4)]
            else:
                parts += [silence(0.3, 1.2)]
            at = sum(len(p) for p in parts)
            parts += [audio(c.path, c), silence(0.3, 1.2)]
            truth.append(((at + sr / 2) / sr, c.label))
        return np.concatenate(parts), truth

    talk = np.concatenate([audio(s.path) for s in sentences])
    hours = len(talk) / sr / 3600
    result = {"wake": str(wake_run.path), "word": word, "within": args.within,
              "commands": len(clips), "talk_hours": hours}
    with tempfile.TemporaryDirectory() as tmp:
        wake_dir = export_stream(wake_run, Path(tmp) / "wake", "float32")

        def listener(gate: bool):
            lis = Listener(args.model)
            return AfterWake(lis, Listener(wake_dir), within=args.within) if gate else lis

        for name, with_wake in (("addressed", True), ("not addressed", False)):
            pcm, truth = stream(with_wake)
            for gate in (False, True):
                lis = listener(gate)
                got = lis.feed(pcm) + lis.flush()
                cmds = [d for d in got if not d.get("wake")]
                found = np.mean([any(abs(d["time"] - t) < 0.75 and d["label"] == lab
                                     for d in cmds) for t, lab in truth])
                row = {"found": float(found)}
                if gate and with_wake:
                    row["wake_detected"] = len([d for d in got if d.get("wake")]) / len(truth)
                result[f"{name}, {'after the wake phrase' if gate else 'alone'}"] = row
                print(name, "gate" if gate else "plain", row, flush=True)
        for gate in (False, True):
            lis = listener(gate)
            got = [d for d in lis.feed(talk) + lis.flush() if not d.get("wake")]
            result[f"talk, {'after the wake phrase' if gate else 'alone'}"] = {
                "false_alarms": len(got), "per_hour": len(got) / hours}
            print("talk", "gate" if gate else "plain", len(got), len(got) / hours, flush=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
