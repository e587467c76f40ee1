"""Benchmark: accuracy of the default recipe on real voices the model has not heard.

1. Speech Commands (``../shared/data/speech_commands_v2_test_half``, 120 speakers): train on
   a speaker-disjoint share of the speakers plus the synthetic set (the default recipe),
   evaluate on the held-out real speakers: 12-label top-1, the false-accept rate (share of
   ``_unknown_`` clips taken for a command) and the rejection trade-off; the false-accept
   rate again on FSDD's 3,000 spoken digits, which are all non-commands here.
2. FSDD (``../shared/data/fsdd``, 6 speakers, digits): leave one speaker out, train on the
   other five (one of them for validation), test on the one left out; the mean and the
   worst speaker.

    python scripts/bench_accuracy.py [--epochs N] [--skip-fsdd] [--skip-sc] [--out runs/bench]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from speechgru.config import FeatureConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from speechgru.data import scan_dataset  # noqa: E402
from speechgru.evaluate import format_report  # noqa: E402
from speechgru.train import evaluate_run, train  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def speech_commands(args) -> dict:
    synth = Path(args.synth)
    if not (synth / "yes").is_dir():
        from speechgru.synth import synthesize_dataset

        synthesize_dataset(synth, per_word=args.synth_per_word, seed=11)
    sc = SHARED / "speech_commands_v2_test_half"
    config = RunConfig(FeatureConfig(), ModelConfig(),
                       TrainConfig(validation_percent=args.held_out, testing_percent=0.0,
                                   **({"epochs": args.epochs} if args.epochs else {})))
    run = Path(args.out) / "speech_commands"
    shutil.rmtree(run, ignore_errors=True)
    train([sc, synth], run, config, cache_dir=args.cache, verbose=0)
    m = evaluate_run(run, sc, split="validation", cache_dir=args.cache, progress=False)
    print("Speech Commands, held-out real speakers:")
    print(format_report(m))
    # more real non-command words: FSDD's 3,000 spoken digits (6 speakers, 8 kHz) are all
    # `_unknown_` to the 12-label model
    digits = evaluate_run(run, SHARED / "fsdd", cache_dir=args.cache, progress=False)
    curve = {f"{r['threshold']:.1f}": round(r["false_accept_rate"], 3)
             for r in digits["rejection_curve"]}
    print(f"false accepts on {digits['clips']} FSDD digits: {digits['false_accept_rate']:.3f}"
          f" (by threshold: {curve})")
    return {"accuracy": m["accuracy"], "false_accept_rate": m["false_accept_rate"],
            "command_recall": m["command_recall"], "clips": m["clips"],
            "rejection": m["rejection_curve"],
            "fsdd_false_accept_rate": digits["false_accept_rate"],
            "fsdd_rejection": digits["rejection_curve"]}


def _fold_dir(root: Path, clips, held: str, val: str) -> Path:
    """A Speech Commands–layout view (symlinks) of FSDD with lists for one fold."""
    shutil.rmtree(root, ignore_errors=True)
    lists = {"validation": [], "test": []}
    for c in clips:
        word = DIGITS[int(c.word)]
        index = c.path.stem.split("_")[-1]
        rel = Path(word) / f"{c.speaker}_nohash_{index}.wav"
        (root / word).mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(c.path.resolve())
        if c.speaker in (held, val):
            lists["test" if c.speaker == held else "validation"].append(str(rel))
    (root / "validation_list.txt").write_text("\n".join(lists["validation"]) + "\n")
    (root / "testing_list.txt").write_text("\n".join(lists["test"]) + "\n")
    return root


def fsdd(args) -> dict:
    ds = scan_dataset(SHARED / "fsdd")
    speakers = sorted({c.speaker for c in ds.clips})
    config = RunConfig(FeatureConfig(), ModelConfig(),
                       TrainConfig(words=DIGITS, epochs=args.epochs or 20, unknown_ratio=0.0,
                                   silence_ratio=0.0))
    result = {}
    for i, held in enumerate(speakers):
        val = speakers[(i + 1) % len(speakers)]
        data = _fold_dir(Path(args.out) / "fsdd_folds" / held, ds.clips, held, val)
        run = Path(args.out) / f"fsdd_{held}"
        shutil.rmtree(run, ignore_errors=True)
        train([data], run, config, cache_dir=args.cache, verbose=0)
        m = evaluate_run(run, data, split="test", cache_dir=args.cache, progress=False)
        result[held] = m["accuracy"]
        print(f"FSDD, {held} left out (validation: {val}): accuracy {m['accuracy']:.4f} "
              f"on {m['clips']} clips", flush=True)
    acc = list(result.values())
    print(f"FSDD leave-one-speaker-out: mean {sum(acc) / len(acc):.4f}, worst "
          f"{min(acc):.4f} ({min(result, key=result.get)})")
    return {"per_speaker": result, "mean": sum(acc) / len(acc), "worst": min(acc)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, help="override the recipe's epochs")
    ap.add_argument("--held-out", type=float, default=15.0,
                    help="percent of Speech Commands speakers held out")
    ap.add_argument("--synth", default="data/synth200",
                    help="the synthetic set mixed into training (made if missing)")
    ap.add_argument("--synth-per-word", type=int, default=200)
    ap.add_argument("--out", default="runs/bench")
    ap.add_argument("--cache", default=".cache/features")
    ap.add_argument("--skip-sc", action="store_true")
    ap.add_argument("--skip-fsdd", action="store_true")
    args = ap.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"the real speech is not available at {SHARED}")
    results = {}
    if not args.skip_sc:
        results["speech_commands"] = speech_commands(args)
    if not args.skip_fsdd:
        results["fsdd"] = fsdd(args)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "accuracy.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
