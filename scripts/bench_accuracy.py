"""Benchmark: accuracy of the recipe on real voices the model has not heard.

1. Speech Commands, 161 speakers (``../shared/data``: the half's 120 and the extra 41, split
   together by speaker: ``--held-out`` % (25: about 40 speakers) in each run's *test* split,
   never trained on, never used to pick the epoch or the threshold; ``--validation`` % in
   its validation split). One row per recipe (``--rows``), each trained with every seed of
   ``--seeds``:

   * ``before``: the recipe as the model in the box had it (the half and the extra
     speakers plus espeak's synthetic speech), its threshold chosen as it was (every
     validation ``_unknown_`` clip, real and synthetic voices weighed half and half);
   * ``real``: + the 4,666 real "bed/cat/happy" clips by 1,555 speakers (``--data``) and
     the 18 real noise recordings (``--noise``);
   * ``kokoro``: + Kokoro's neural voices (``train.kokoro_per_word``);
   * ``op``: ``before``'s runs with the operating point set on real speech (the validation
     split's real other words);
   * ``all``: everything together, with the operating point set on real speech;
   * ``fsdd-op``: ``all``'s runs, the operating point set on the validation split and
     FSDD's 3,000 spoken digits together (``--threshold-data``; FSDD is then no test).
   * ``vocab``, ``vocab-fsdd``: ``all`` + Kokoro saying 400 more words drawn from misaki's
     lexicon in the same voices (``train.kokoro_vocabulary``), with ``all``'s and
     ``fsdd-op``'s operating points;
   * ``ensemble`` (scored once): the three ``all`` runs as one (``speechgru ensemble``:
     the mean of their probabilities), its operating point as ``fsdd-op``'s.

   Each run is scored on the same clips: the test split of the 161 speakers, and as *real
   other words* their test ``_unknown_`` clips, the test speakers' "bed/cat/happy" and FSDD's
   3,000 spoken digits: 12-label top-1; at the row's threshold, commands recognised and
   real other words taken for a command (each word weighing the same: 3 words of 781 clips
   do not outvote the 20 of the others); the commands recognised where 1 / 3 / 5 % of the
   real other words pass (the threshold read off the test clips: what the classifier can
   do); and live, as ``listen`` hears them (``evaluate-stream``: the test clips end to end
   over background noise through the streaming model): commands found, other words that
   fire, false alarms per hour, with the float32 and the int8 stream models. Prints each
   run and each row's mean and spread.
2. ``--fsdd``: FSDD (6 speakers, digits): leave one speaker out, train on the other five
   (one of them for validation), test on the one left out; the mean and the worst speaker.

    python scripts/bench_accuracy.py [--rows before real kokoro op all] [--seeds 0 1 2]
        [--epochs N] [--out runs/bench] [--reuse] [--fsdd]
        [--set train.speed=0.15 --set model.conv=...]   # one lever: config overrides
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from speechgru.config import SILENCE, UNKNOWN, FeatureConfig, ModelConfig, RunConfig, TrainConfig
from speechgru.data.layouts import scan_dataset
from speechgru.metrics import _GRID, _word_balanced
from speechgru.training.data import _real_rows
from speechgru.training.train import evaluate_run, train

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HALF = SHARED / "speech_commands_v2_test_half"
EXTRA = SHARED / "speech_commands_v2_test_extra"
UNKNOWN_WORDS = SHARED / "speech_commands_unknown"
NOISE = SHARED / "noise"
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
KOKORO_PER_WORD = 60
VOCAB = {"kokoro_per_word": KOKORO_PER_WORD, "kokoro_vocabulary": 400}  # the vocab rows
ROWS = {  # row: (trained as, extra --data, --noise, train overrides, threshold)
    "before": ("before", [], [], {}, "before"),
    "real": ("real", [UNKNOWN_WORDS], [NOISE], {}, "real"),
    "kokoro": ("kokoro", [], [], {"kokoro_per_word": KOKORO_PER_WORD}, "real"),
    "op": ("before", [], [], {}, "real"),
    "all": ("all", [UNKNOWN_WORDS], [NOISE], {"kokoro_per_word": KOKORO_PER_WORD}, "real"),
    "fsdd-op": ("all", [UNKNOWN_WORDS], [NOISE], {"kokoro_per_word": KOKORO_PER_WORD},
                "fsdd"),
    # `all` + Kokoro saying 400 more words drawn from misaki's lexicon, two clips each
    "vocab": ("vocab", [UNKNOWN_WORDS], [NOISE], VOCAB, "real"),
    "vocab-fsdd": ("vocab", [UNKNOWN_WORDS], [NOISE], VOCAB, "fsdd"),
    # the mean of the three `all` runs' probabilities (speechgru ensemble): one model
    "ensemble": ("ensemble", [], [], {}, "fsdd"),
}


def _trained(args, recipe: str, seed: int) -> Path:
    """The run of one recipe and seed (trained unless --reuse finds it finished)."""
    if recipe == "ensemble":  # made of the `all` runs of seeds 0, 1, 2 (one ensemble)
        from speechgru.training.ensemble import combine

        members = [_trained(args, "all", s) for s in (0, 1, 2)]
        run = Path(args.out) / "all_ensemble"
        if not (args.reuse and (run / "metrics.json").is_file()):
            shutil.rmtree(run, ignore_errors=True)
            combine(members, run, cache_dir=args.cache, progress=False)
        return run
    _, data, noise, train_kw, _ = next(r for r in ROWS.values() if r[0] == recipe)
    train_kw = {"validation_percent": args.validation, "testing_percent": args.held_out,
                "seed": seed, **({"epochs": args.epochs} if args.epochs else {}),
                **train_kw, **args.overrides["train"]}
    config = RunConfig(FeatureConfig(**args.overrides["features"]),
                       ModelConfig(**args.overrides["model"]), TrainConfig(**train_kw))
    run = Path(args.out) / f"{recipe}_seed{seed}"
    if args.reuse and (run / "metrics.json").is_file():
        return run
    if args.reuse and (run / "state.json").is_file():  # stopped part-way: go on
        train(None, run, resume=True, cache_dir=args.cache, verbose=0)
        return run
    shutil.rmtree(run, ignore_errors=True)
    train([HALF, EXTRA, *data], run, config, cache_dir=args.cache, verbose=0,
          noise_dirs=noise)
    return run


def _probs(run: Path, clips, args) -> tuple[np.ndarray, np.ndarray, list]:
    from speechgru.data.cache import extract_features
    from speechgru.run_dir import RunDir

    config, labels, model = RunDir(run).load()
    feats = extract_features(clips, config.features, cache_dir=args.cache, progress=False)
    return model.predict(feats.x, batch_size=256, verbose=0), feats.labels(labels), \
        feats.clips


def _before_point(run: Path, args) -> float:
    """The threshold as the recipe chose it before: every validation ``_unknown_`` clip,
    the real and the synthetic ones weighed half and half (``real_unknown_share`` 0.5)."""
    from speechgru.run_dir import RunDir

    config = RunDir(run).config()
    probs, y, clips = _probs(run, RunDir(run).split("validation"), args)
    labels = config.train.labels
    real = _real_rows(clips)
    unk = y == labels.index(UNKNOWN)
    w = np.ones(len(y))
    if (unk & real).any() and (unk & ~real).any():
        w[unk & real] = 0.5 / (unk & real).sum()
        w[unk & ~real] = 0.5 / (unk & ~real).sum()
    commands = [i for i, k in enumerate(labels) if k not in (SILENCE, UNKNOWN)]
    for t in _GRID:
        top = probs.max(axis=1) >= t
        accepted = top & np.isin(probs.argmax(axis=1), commands)
        if np.average(accepted[unk], weights=w[unk]) <= config.train.target_false_accept:
            return t
    return _GRID[-1]


def _real_point(run: Path, args, threshold_data=()) -> float:
    """The threshold as training now chooses it (the validation split's real other words
    and ``threshold_data``'s, each word weighing the same): chosen again here, so older
    runs are scored alike."""
    from speechgru.run_dir import RunDir
    from speechgru.training.operating_point import choose_for_run

    _, _, model = RunDir(run).load()
    probs, y, clips = _probs(run, RunDir(run).split("validation"), args)
    return choose_for_run(RunDir(run), model, probs, y, clips, cache_dir=args.cache,
                          dirs=[str(d) for d in threshold_data])["threshold"]


def _test_clips(run: Path):
    """The run's test clips of the 161 speakers, and the real other words every run is
    scored on (their ``_unknown_`` clips, the test speakers' bed/cat/happy)."""
    from speechgru.run_dir import RunDir
    from speechgru.utils import inside

    tc = RunDir(run).config().train
    test = [c for c in RunDir(run).split("test") if inside(c.path, HALF) or
            inside(c.path, EXTRA)]
    bch = scan_dataset(UNKNOWN_WORDS, words=tc.words, validation_percent=tc.validation_percent,
                       testing_percent=tc.testing_percent).select("test")
    return test, bch


def _recall_at(probs, y, other_mask, words, labels, rates=(0.01, 0.03, 0.05)) -> dict:
    """Commands recognised at the lowest threshold where at most each rate of the real
    other words (each word weighing the same) is taken for a command."""
    commands = [i for i, k in enumerate(labels) if k not in (SILENCE, UNKNOWN)]
    top, pred = probs.max(axis=1), probs.argmax(axis=1)
    is_cmd = np.isin(y, commands)
    out = {}
    for rate in rates:
        for t in np.linspace(0.0, 1.0, 1001):
            taken = (top[other_mask] >= t) & np.isin(pred[other_mask], commands)
            if _word_balanced(taken, words[other_mask]) <= rate:
                break
        out[f"{100 * rate:.0f}%"] = float(np.mean((pred[is_cmd] == y[is_cmd]) &
                                                  (top[is_cmd] >= t)))
    return out


def score(args, row: str, seed: int) -> dict:
    """One row's figures for one seed (kept in ``--out/scores/``; with --reuse, read back)."""
    kept = Path(args.out) / "scores" / f"{row}_seed{seed}.json"
    if args.reuse and kept.is_file():
        r = json.loads(kept.read_text())
        if "live_int8" in r and "at_fixed" in r:
            return r
        if "live_int8" not in r:  # kept before these were measured
            r["live_int8"] = _live(r["run"], r["threshold"], "int8")
        if "at_fixed" not in r:
            from speechgru.run_dir import RunDir

            test, bch = _test_clips(Path(r["run"]))
            r["at_fixed"] = _at_fixed(*_probs(Path(r["run"]), test + bch, args),
                                      RunDir(r["run"]).config().train.labels)
    else:
        r = _score(args, row, seed)
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps(r, indent=1))
    return r


def _score(args, row: str, seed: int) -> dict:
    recipe, _, _, _, rule = ROWS[row]
    run = _trained(args, recipe, seed)
    from speechgru.run_dir import RunDir

    labels = RunDir(run).config().train.labels
    threshold = (_before_point(run, args) if rule == "before" else
                 _real_point(run, args, [SHARED / "fsdd"] if rule == "fsdd" else []))
    test, bch = _test_clips(run)
    probs, y, clips = _probs(run, test + bch, args)
    fixed = _at_fixed(probs, y, clips, labels)
    commands = [i for i, k in enumerate(labels) if k not in (SILENCE, UNKNOWN)]
    unk = labels.index(UNKNOWN)
    test_set = set(test)
    in_test = np.array([c in test_set for c in clips])
    other = (y == unk)
    pred, top = probs.argmax(axis=1), probs.max(axis=1)
    words = np.array([c.word for c in clips])
    accepted = (top >= threshold) & np.isin(pred, commands)
    is_cmd = np.isin(y, commands)
    digits = evaluate_run(run, SHARED / "fsdd", cache_dir=args.cache, progress=False,
                          threshold=threshold)
    from speechgru.stream_eval import evaluate_stream

    stream = evaluate_stream(run, [HALF, EXTRA], split="test", threshold=threshold)
    live_int8 = _live(run, threshold, "int8")
    r = {"row": row, "seed": seed, "run": str(run), "threshold": threshold,
         "clips": int(in_test.sum()), "other_words": int(other.sum()),
         "top1": float(np.mean(pred[in_test] == y[in_test])),
         "recognised": float(np.mean(accepted[is_cmd] & (pred[is_cmd] == y[is_cmd]))),
         "others_accepted": _word_balanced(accepted[other], words[other]),
         "others_accepted_clips": float(np.mean(accepted[other])),
         "sc_others_accepted": float(np.mean(accepted[other & in_test])),
         "bch_accepted": float(np.mean(accepted[other & ~in_test])),
         "fsdd_accepted": digits["false_accept_rate"],
         "recall_at": _recall_at(probs, y, other, words, labels),
         "live": _live_figures(stream),
         "live_curve": stream["curve"], "live_int8": live_int8, "at_fixed": fixed}
    print(json.dumps(r), flush=True)
    return r


FIXED = (0.7, 0.8, 0.84, 0.9)  # thresholds every run is also scored at (0.84: the box's)


def _at_fixed(probs, y, clips, labels) -> dict:
    """Commands recognised and real other words taken (per word, per clip) at each of
    :data:`FIXED`: the recipe's figures apart from where its operating point fell."""
    commands = [i for i, k in enumerate(labels) if k not in (SILENCE, UNKNOWN)]
    pred, top = probs.argmax(axis=1), probs.max(axis=1)
    is_cmd, other = np.isin(y, commands), y == labels.index(UNKNOWN)
    words = np.array([c.word for c in clips])
    out = {}
    for t in FIXED:
        accepted = (top >= t) & np.isin(pred, commands)
        out[f"{t:.2f}"] = {
            "recognised": float(np.mean(accepted[is_cmd] & (pred[is_cmd] == y[is_cmd]))),
            "others_accepted": _word_balanced(accepted[other], words[other]),
            "others_accepted_clips": float(np.mean(accepted[other]))}
    return out


def _live(run, threshold: float, variant: str) -> dict:
    """Live figures of one exported stream variant of ``run`` (``stream_<variant>.tflite``,
    as ``listen --variant`` hears the test clips end to end)."""
    from speechgru.stream_eval import evaluate_stream

    return _live_figures(evaluate_stream(run, [HALF, EXTRA], split="test",
                                         threshold=threshold, variant=variant,
                                         thresholds=(threshold,)))


def _live_figures(stream: dict) -> dict:
    return {k: float(stream[k]) for k in ("command_recall", "other_words_accepted",
                                          "false_alarms_per_hour")}


def _spread(rows, get) -> str:
    values = [get(r) for r in rows]
    mean = sum(values) / len(values)
    return f"{100 * mean:.1f} % ({100 * min(values):.1f}–{100 * max(values):.1f})"


def speech_commands(args) -> dict:
    """Every row of ``--rows`` over ``--seeds``, printed; returns every row and seed scored so
    far in ``--out/scores/`` (this call's and earlier ones')."""
    for row in args.rows:
        # the ensemble is one model (of the `all` runs of seeds 0, 1, 2): scored once
        seeds = [0] if row == "ensemble" else args.seeds
        rows = [score(args, row, seed) for seed in seeds]
        print(f"row {row}, seeds {seeds} ({rows[0]['clips']} test clips, "
              f"{rows[0]['other_words']} real other words): thresholds "
              f"{[r['threshold'] for r in rows]}")
        for name, get in (
                ("top-1", lambda r: r["top1"]),
                ("recognised at the threshold", lambda r: r["recognised"]),
                ("real other words accepted", lambda r: r["others_accepted"]),
                ("  the 161 speakers' clips", lambda r: r["sc_others_accepted"]),
                ("  bed/cat/happy clips", lambda r: r["bch_accepted"]),
                ("FSDD digits accepted", lambda r: r["fsdd_accepted"]),
                *[(f"recognised where {k} pass", lambda r, k=k: r["recall_at"][k])
                  for k in ("1%", "3%", "5%")],
                ("live: commands found", lambda r: r["live"]["command_recall"]),
                ("live: other words that fire", lambda r: r["live"]["other_words_accepted"]),
                ("live int8: commands found", lambda r: r["live_int8"]["command_recall"]),
                ("live int8: other words fire",
                 lambda r: r["live_int8"]["other_words_accepted"])):
            print(f"  {name:<32}{_spread(rows, get)}")
        print(f"  {'live: false alarms per hour':<32}"
              f"{[round(r['live']['false_alarms_per_hour'], 1) for r in rows]}; int8 "
              f"{[round(r['live_int8']['false_alarms_per_hour'], 1) for r in rows]}",
              flush=True)
    out: dict[str, list] = {}
    for f in sorted((Path(args.out) / "scores").glob("*_seed*.json")):
        r = json.loads(f.read_text())
        out.setdefault(r["row"], []).append(r)
    return out


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
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
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
