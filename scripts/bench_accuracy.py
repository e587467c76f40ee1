"""Benchmark: accuracy of the default recipe on real voices the model has not heard.

1. Speech Commands (``../shared/data/speech_commands_v2_test_half``, 120 speakers): for each
   seed, train the default recipe (``speechgru train --data HALF``: the half plus the
   recipe's synthetic speech, made once and cached) with a speaker-disjoint
   ``--held-out`` % of the half's speakers in the run's *test* split (never trained on, never
   used to pick the epoch) and ``--validation`` % in its validation split; score the run's
   saved test split (``evaluate --split test``): 12-label top-1, command recall, the share
   of ``_unknown_`` clips taken for a command, and on FSDD's 3,000 spoken digits (real speech,
   all non-commands here) the share taken for a command at thresholds 0 / 0.6 / 0.8 and at
   the run's operating point; then the live figures (``speechgru evaluate-stream RUN
   --split test``: the test clips end to end over the half's background noise, through the
   streaming model as ``listen`` runs it). Prints each seed and the mean and spread.
   ``--members K``: each row (seed s) is the ensemble of the runs of seeds K*s … K*s+K-1
   (``speechgru ensemble``), scored as one run.
2. ``--fsdd``: FSDD (6 speakers, digits): leave one speaker out, train on the other five
   (one of them for validation), test on the one left out; the mean and the worst speaker.

    python scripts/bench_accuracy.py [--seeds 0 1 2] [--epochs N] [--fsdd] [--out runs/bench]
        [--set train.speed=0.15 --set model.conv=...]   # one lever: config overrides
        [--members 3]  # each row an ensemble of 3 runs (seeds 3s, 3s+1, 3s+2)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from speechgru.config import FeatureConfig, ModelConfig, RunConfig, TrainConfig
from speechgru.data.layouts import scan_dataset
from speechgru.training.evaluate import format_report
from speechgru.training.train import evaluate_run, train

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _at(curve, threshold: float, key: str) -> float:
    return next(r[key] for r in curve if abs(r["threshold"] - threshold) < 1e-6)


def _trained(args, seed: int) -> Path:
    """The run of one seed (trained unless --reuse finds it finished)."""
    sc = SHARED / "speech_commands_v2_test_half"
    train_kw = {"validation_percent": args.validation, "testing_percent": args.held_out,
                "seed": seed, **({"epochs": args.epochs} if args.epochs else {}),
                **args.overrides["train"]}
    config = RunConfig(FeatureConfig(**args.overrides["features"]),
                       ModelConfig(**args.overrides["model"]), TrainConfig(**train_kw))
    run = Path(args.out) / f"speech_commands_seed{seed}"
    if not (args.reuse and (run / "metrics.json").is_file()):
        shutil.rmtree(run, ignore_errors=True)
        train([sc], run, config, cache_dir=args.cache, verbose=0)
    return run


def speech_commands_seed(args, seed: int) -> dict:
    """One row: the run of ``seed``, or with --members K the ensemble of the runs of seeds
    K*seed … K*seed+K-1 (``speechgru ensemble``), scored on the test split."""
    sc = SHARED / "speech_commands_v2_test_half"
    if args.members > 1:
        from speechgru.training.ensemble import combine

        members = [_trained(args, args.members * seed + k) for k in range(args.members)]
        run = Path(args.out) / f"speech_commands_ensemble{seed}"
        if not (args.reuse and (run / "metrics.json").is_file()):
            shutil.rmtree(run, ignore_errors=True)
            combine(members, run, cache_dir=args.cache, progress=False)
    else:
        run = _trained(args, seed)
    m = evaluate_run(run, sc, split="test", cache_dir=args.cache, progress=False)
    what = f"ensemble {seed} ({run.name})" if args.members > 1 else f"seed {seed}"
    print(f"Speech Commands, {what}, the run's test split (speakers never heard):")
    print(format_report(m))
    digits = evaluate_run(run, SHARED / "fsdd", cache_dir=args.cache, progress=False)
    curve = m["rejection_curve"]
    row = {"seed": seed, "accuracy": m["top1"], "clips": m["clips"],
           "operating_point": m["threshold"],
           "command_recall": _at(curve, 0.0, "command_recall"),
           "unknown_accepted": _at(curve, 0.0, "false_accept_rate"),
           "op_command_recall": m["command_recall"],
           "op_unknown_accepted": m["false_accept_rate"],
           "op_fsdd_accepted": digits["false_accept_rate"],
           "fsdd_accepted": {f"{t:.1f}": _at(digits["rejection_curve"], t,
                                             "false_accept_rate") for t in (0.0, 0.6, 0.8)},
           "recall_at": {f"{t:.1f}": _at(curve, t, "command_recall") for t in (0.0, 0.6, 0.8)}}
    # the live figures: the same test clips end to end over the half's own background
    # noise, heard by the exported streaming model as `listen` hears it
    from speechgru.stream_eval import evaluate_stream, format_stream_report

    stream = evaluate_stream(run, sc, split="test")
    print(format_stream_report(stream))
    row["stream"] = {k: stream[k] for k in ("threshold", "command_recall", "substitution_rate",
                                            "other_words_accepted", "false_alarms_per_hour")}
    row["stream_at_0.6"] = next(r for r in stream["curve"] if r["threshold"] == 0.6)
    print(json.dumps(row), flush=True)
    return row


def _spread(rows, get) -> str:
    values = [get(r) for r in rows]
    mean = sum(values) / len(values)
    return f"{100 * mean:.1f} % (min {100 * min(values):.1f}, max {100 * max(values):.1f})"


def speech_commands(args) -> dict:
    rows = [speech_commands_seed(args, seed) for seed in args.seeds]
    print(f"over seeds {args.seeds} ({rows[0]['clips']} test clips each):")
    print(f"  top-1                     {_spread(rows, lambda r: r['accuracy'])}")
    print(f"  command recall            {_spread(rows, lambda r: r['command_recall'])}")
    print(f"  _unknown_ accepted        {_spread(rows, lambda r: r['unknown_accepted'])}")
    print(f"  at the operating point (threshold {[r['operating_point'] for r in rows]}):")
    print(f"    command recall          {_spread(rows, lambda r: r['op_command_recall'])}")
    print(f"    _unknown_ accepted      {_spread(rows, lambda r: r['op_unknown_accepted'])}")
    print(f"    FSDD accepted           {_spread(rows, lambda r: r['op_fsdd_accepted'])}")
    for t in ("0.0", "0.6", "0.8"):
        print(f"  FSDD accepted at {t}      {_spread(rows, lambda r, t=t: r['fsdd_accepted'][t])}"
              f"; command recall {_spread(rows, lambda r, t=t: r['recall_at'][t])}")
    print("  live stream at the operating point:")
    print(f"    commands found          {_spread(rows, lambda r: r['stream']['command_recall'])}")
    print(f"    other words that fire   "
          f"{_spread(rows, lambda r: r['stream']['other_words_accepted'])}")
    fah = [r["stream"]["false_alarms_per_hour"] for r in rows]
    print(f"    false alarms per hour   {fah}")
    return {"seeds": rows}


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
                                   silence_ratio=0.0, synth_per_word=0))
    result = {}
    for i, held in enumerate(speakers):
        val = speakers[(i + 1) % len(speakers)]
        data = _fold_dir(Path(args.out) / "fsdd_folds" / held, ds.clips, held, val)
        run = Path(args.out) / f"fsdd_{held}"
        shutil.rmtree(run, ignore_errors=True)
        train([data], run, config, cache_dir=args.cache, verbose=0)
        m = evaluate_run(run, data, split="test", cache_dir=args.cache, progress=False)
        result[held] = m["top1"]
        print(f"FSDD, {held} left out (validation: {val}): accuracy {m['top1']:.4f} "
              f"on {m['clips']} clips", flush=True)
    acc = list(result.values())
    print(f"FSDD leave-one-speaker-out: mean {sum(acc) / len(acc):.4f}, worst "
          f"{min(acc):.4f} ({min(result, key=result.get)})")
    return {"per_speaker": result, "mean": sum(acc) / len(acc), "worst": min(acc)}


def _overrides(items: list[str]) -> dict:
    """``section.field=JSON`` pairs (``train.speed=0.15``, ``model.units=[64,64]``)."""
    out = {"features": {}, "model": {}, "train": {}}
    for item in items:
        key, _, value = item.partition("=")
        section, _, field = key.partition(".")
        if section not in out or not field or not value:
            raise SystemExit(f"--set {item!r}: expected features|model|train.FIELD=VALUE")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        # a JSON list is a tuple in the config classes (units, snr_db, words)
        out[section][field] = tuple(parsed) if isinstance(parsed, list) else parsed
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, help="override the recipe's epochs")
    ap.add_argument("--held-out", type=float, default=25.0,
                    help="percent of Speech Commands speakers in the test split")
    ap.add_argument("--validation", type=float, default=10.0,
                    help="percent of Speech Commands speakers in the validation split")
    ap.add_argument("--out", default="runs/bench")
    ap.add_argument("--cache", default=".cache/features")
    ap.add_argument("--skip-sc", action="store_true")
    ap.add_argument("--reuse", action="store_true",
                    help="score a seed's finished run in --out again instead of retraining")
    ap.add_argument("--fsdd", action="store_true", help="also FSDD leave-one-speaker-out")
    ap.add_argument("--members", type=int, default=1,
                    help="each row an ensemble of this many runs (seeds K*s … K*s+K-1)")
    ap.add_argument("--set", dest="sets", action="append", default=[],
                    help="a config override for the Speech Commands runs (a lever), "
                         "e.g. train.speed=0.15")
    args = ap.parse_args()
    args.overrides = _overrides(args.sets)
    if not SHARED.is_dir():
        raise SystemExit(f"the real speech is not available at {SHARED}")
    results = {"overrides": args.overrides}
    if not args.skip_sc:
        results["speech_commands"] = speech_commands(args)
    if args.fsdd:
        results["fsdd"] = fsdd(args)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "accuracy.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
