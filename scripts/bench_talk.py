"""The bench of a room where people talk: each lever of training that has heard talk, on
speakers and sentences never trained on, over seeds.

Rows (each trained with every seed of ``--seeds`` on the 161 Speech Commands speakers less
``--held-out`` % of them, the 1,555-speaker bed/cat/happy, the 18 noise recordings, espeak's
and Kokoro's voices with 400 more Kokoro words: the recipe of the model in the box):

* ``vocab``: that recipe, its threshold set on its validation split and FSDD's digits (as
  the box's was);
* ``vocab-live``: the same runs, threshold and smoothing chosen live instead (the room of
  the validation speakers, sentences of the talk's validation speakers: no training);
* ``talk``: + windows of the talk's train speakers as ``_unknown_`` (``train --talk``),
  threshold chosen live;
* ``talk-hard``: + one round of hard negatives mined with ``speechgru mine`` from the
  ``talk`` run of the same seed (``train --hard-negatives``), threshold chosen live.

Each run is scored on its test split's speakers (never trained on, never used to choose
anything): clip top-1, commands recognised at its threshold, commands recognised where 3 %
of the real other words pass; and the room benchmark (``evaluate-stream --talk``): the
test speakers' commands and other words between sentences of the talk's test speakers
(never trained on) over the noise's test part at SNR bands: commands found per band, other
words that fire, false alarms per hour of speech, of noise alone, of the sentences alone;
float32 and int8. Run::

    python scripts/bench_talk.py [--rows vocab vocab-live talk talk-hard] [--seeds 0 1 2]
        [--epochs 40] [--out runs/bench-talk] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_accuracy as ba  # noqa: E402  (the clip figures, defined once there)

from speechgru.config import (  # noqa: E402
    SILENCE,
    UNKNOWN,
    FeatureConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)

TALK = ba.SHARED / "continuous_speech"
FSDD = ba.SHARED / "fsdd"
ROWS = {  # row: (trained as, talk, hard negatives from, live point)
    "vocab": ("vocab", False, None, False),
    "vocab-live": ("vocab", False, None, True),
    "talk": ("talk", True, None, True),
    "talk-hard": ("talk-hard", True, "talk", True),
}


def trained(args, recipe: str, seed: int) -> Path:
    from speechgru.training.train import train

    run = Path(args.out) / f"{recipe}_seed{seed}"
    if (run / "metrics.json").is_file():
        return run
    if (run / "state.json").is_file():
        train(None, run, resume=True, cache_dir=args.cache, verbose=0)
        return run
    talk = [TALK] if recipe in ("talk", "talk-hard") else []
    hard = []
    if recipe == "talk-hard":
        from speechgru.training.hard_negatives import mine

        source = trained(args, "talk", seed)
        hard = [mine(source, [TALK], threshold=args.mine_threshold, progress=False)["file"]]
    config = RunConfig(FeatureConfig(), ModelConfig(), TrainConfig(
        validation_percent=args.validation, testing_percent=args.held_out, seed=seed,
        epochs=args.epochs, **ba.VOCAB))
    import shutil

    shutil.rmtree(run, ignore_errors=True)
    train([ba.HALF, ba.EXTRA, ba.UNKNOWN_WORDS], run, config, cache_dir=args.cache, verbose=0,
          noise_dirs=[ba.NOISE], threshold_data=[FSDD], talk_dirs=talk, hard_negatives=hard)
    return run


FIXED = ((0.7, 2), (0.8, 2), (0.9, 2), (0.95, 3))  # every run is also scored at these


def _fixed(run: Path, row: str, seed: int, args) -> list[dict]:
    """The room at :data:`FIXED` (threshold, smoothing): the rows apart from where their
    operating points fell."""
    from speechgru.talk_eval import evaluate_talk

    return evaluate_talk(run, [TALK], split="test", thresholds=(), points=FIXED,
                         threshold=FIXED[0][0], smoothing=FIXED[0][1], progress=False,
                         sentences_alone=True)["points"]


def score(args, row: str, seed: int) -> dict:
    kept = Path(args.out) / "scores" / f"{row}_seed{seed}.json"
    if args.reuse and kept.is_file():
        r = json.loads(kept.read_text())
        if "fixed" not in r:  # kept before the fixed settings were scored
            same = Path(args.out) / "scores" / f"{ROWS[row][0]}_seed{seed}.json"
            other = json.loads(same.read_text()) if same.is_file() and same != kept else {}
            r["fixed"] = other.get("fixed") or _fixed(Path(r["run"]), row, seed, args)
            kept.write_text(json.dumps(r, indent=1))
        return r
    from speechgru.run_dir import RunDir
    from speechgru.talk_eval import evaluate_talk
    from speechgru.training.operating_point import choose_live

    recipe, _, _, live = ROWS[row]
    run = trained(args, recipe, seed)
    point = RunDir(run).operating_point()
    if live and "live" not in point:  # chosen live without training again
        point = choose_live(run, [TALK], save=False)
    threshold, smoothing = point["threshold"], int(point.get("smoothing", 2))
    labels = RunDir(run).config().train.labels
    test, bch = ba._test_clips(run)
    probs, y, clips = ba._probs(run, test + bch, args)
    commands = [i for i, k in enumerate(labels) if k not in (SILENCE, UNKNOWN)]
    test_set = set(test)
    in_test = np.array([c in test_set for c in clips])
    other = y == labels.index(UNKNOWN)
    pred, top = probs.argmax(axis=1), probs.max(axis=1)
    words = np.array([c.word for c in clips])
    accepted = (top >= threshold) & np.isin(pred, commands)
    is_cmd = np.isin(y, commands)
    rooms = {}
    for variant in ("float32", "int8"):
        r = evaluate_talk(run, [TALK], split="test", variant=variant, threshold=threshold,
                          smoothing=smoothing, thresholds=(threshold,), progress=False,
                          out_dir=Path(args.out) / "rooms" / f"{row}_seed{seed}")
        rooms[variant] = {
            "command_recall": r["command_recall"],
            "per_band": {k: v["command_recall"] for k, v in r["per_band"].items()},
            "other_words_accepted": r["other_words_accepted"],
            "substitution_rate": r["substitution_rate"],
            "fa_per_hour_speech": r["false_alarms_per_hour_of_speech"],
            "fa_per_hour_noise": r["false_alarms_per_hour_of_noise"],
            "fa_per_hour_sentences": r["sentences_alone"]["false_alarms_per_hour"],
            "speech_minutes": 60 * r["speech_hours"],
            "sentences_minutes": 60 * r["sentences_alone"]["speech"]["screened"]["hours"],
            "fired_in_talk": [f"{d['label']}: {d['text']}" for d in
                              r["sentences_alone"]["fired_in_talk"]][:40]}
    out = {"row": row, "seed": seed, "run": str(run), "threshold": threshold,
           "smoothing": smoothing, "epochs": args.epochs, "live_point": point.get("live"),
           "clips": int(in_test.sum()),
           "top1": float(np.mean(pred[in_test] == y[in_test])),
           "recognised": float(np.mean(accepted[is_cmd] & (pred[is_cmd] == y[is_cmd]))),
           "others_accepted": ba._word_balanced(accepted[other], words[other]),
           "recall_at": ba._recall_at(probs, y, other, words, labels),
           "room": rooms["float32"], "room_int8": rooms["int8"],
           "fixed": _fixed(run, row, seed, args)}
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps(out, indent=1))
    print(json.dumps({k: v for k, v in out.items() if k not in ("room", "room_int8")}),
          flush=True)
    return out


def report(rows: dict[str, list[dict]]) -> None:
    def spread(rs, get, pct=True):
        v = [get(r) for r in rs]
        f = (lambda x: f"{100 * x:.1f}") if pct else (lambda x: f"{x:.1f}")
        return f"{f(np.mean(v))} ({f(min(v))}–{f(max(v))})"

    print("| row | seeds | threshold / smoothing | top-1 | recognised at its threshold | "
          "where 3 % of other words pass | room: found | 5-10 dB | 10-20 | 20-30 | clean | "
          "other words fire | FA/h speech | FA/h sentences alone | FA/h noise | int8 found "
          "/ FA/h |")
    print("|" + "---|" * 16)
    for row, rs in rows.items():
        points = ", ".join(f"{r['threshold']:.2f}/{r['smoothing']}" for r in rs)
        print(f"| {row} | {len(rs)} | {points} | "
              f"{spread(rs, lambda r: r['top1'])} | {spread(rs, lambda r: r['recognised'])} | "
              f"{spread(rs, lambda r: r['recall_at']['3%'])} | "
              f"{spread(rs, lambda r: r['room']['command_recall'])} | "
              + " | ".join(spread(rs, lambda r, b=b: r["room"]["per_band"][b])
                           for b in ("5-10 dB", "10-20 dB", "20-30 dB", "clean")) + " | "
              f"{spread(rs, lambda r: r['room']['other_words_accepted'])} | "
              f"{spread(rs, lambda r: r['room']['fa_per_hour_speech'], False)} | "
              f"{spread(rs, lambda r: r['room']['fa_per_hour_sentences'], False)} | "
              f"{spread(rs, lambda r: r['room']['fa_per_hour_noise'] or 0.0, False)} | "
              f"{spread(rs, lambda r: r['room_int8']['command_recall'])} / "
              f"{spread(rs, lambda r: r['room_int8']['fa_per_hour_sentences'], False)} |",
              flush=True)


def report_fixed(rows: dict[str, list[dict]]) -> None:
    """Each row at the fixed settings: commands found / false alarms per hour of speech /
    of the sentences alone."""
    print("\n| row | " + " | ".join(f"{t:.2f}, smoothing {k}: found / FA/h speech / "
                                      "sentences" for t, k in FIXED) + " |")
    print("|" + "---|" * (len(FIXED) + 1))
    for row, rs in rows.items():
        rs = [r for r in rs if "fixed" in r]
        if not rs or row.endswith("-live"):
            continue
        cells = []
        for i in range(len(FIXED)):
            found = [r["fixed"][i]["command_recall"] for r in rs]
            fa = [r["fixed"][i]["false_alarms_per_hour_of_speech"] for r in rs]
            alone = [r["fixed"][i]["sentences_alone_per_hour"] for r in rs]
            cells.append(f"{100 * np.mean(found):.1f} / {np.mean(fa):.1f} / "
                         f"{np.mean(alone):.1f}")
        print(f"| {row} ({len(rs)}) | " + " | ".join(cells) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--held-out", type=float, default=25.0)
    ap.add_argument("--validation", type=float, default=10.0)
    ap.add_argument("--mine-threshold", type=float, default=0.5)
    ap.add_argument("--out", default="runs/bench-talk")
    ap.add_argument("--cache", default=".cache/features")
    ap.add_argument("--reuse", action="store_true", help="read back the scores kept in --out")
    ap.add_argument("--report", action="store_true", help="only print what is kept")
    ap.add_argument("--scored-only", action="store_true",
                    help="with --reuse: complete the kept scores, train nothing new")
    args = ap.parse_args()
    rows: dict[str, list[dict]] = {}
    for seed in args.seeds:  # a seed at a time: every row of seed 0 first
        for row in args.rows:
            kept = Path(args.out) / "scores" / f"{row}_seed{seed}.json"
            if args.report:
                if kept.is_file():
                    rows.setdefault(row, []).append(json.loads(kept.read_text()))
                continue
            if args.reuse and not kept.is_file() and args.scored_only:
                continue
            rows.setdefault(row, []).append(score(args, row, seed))
    report({r: rows[r] for r in args.rows if r in rows})
    report_fixed({r: rows[r] for r in args.rows if r in rows})


if __name__ == "__main__":
    main()
