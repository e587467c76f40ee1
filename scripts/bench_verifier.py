"""The second look, measured: a first-stage run's candidates heard again with the seconds
around them, on speakers and sentences neither model heard.

For a finished first-stage run (trained with a held-out test split, e.g. ``bench_talk``'s
``talk`` row), this hears rooms of the run's train speakers between sentences of the talk's
train speakers (gaps as the room benchmark's, and hardly a pause), trains the verifier on
the candidates and words there (``speechgru.training.verifier``), and scores, on the run's
test speakers between sentences of the talk's test speakers, the first stage alone at its
best settings and with the verifier, the decision settings chosen on the validation
speakers (at most 1 false alarm an hour of talk). Run::

    python scripts/bench_verifier.py RUN [--out runs/bench-verifier] [--epochs 25]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TALK = SHARED / "continuous_speech"
T1_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
T2_GRID = tuple(round(0.05 * k, 2) for k in range(2, 20))
SMOOTHING = (1, 2, 3)


def hearing(model_dir, run, split, sentences, regions, *, seed, gap, max_commands,
            max_others, alone=True):
    from speechgru.talk_eval import Hearing

    return Hearing(model_dir, "float32", run.split(split), sentences, regions, seed=seed,
                   max_commands=max_commands, max_others=max_others, gap=gap,
                   sentences_alone=alone, frames=True, progress=False)


def scores_at(hearing_, verifier, context, labels):
    """A function ``(heard, truth) -> {(time, label): p}`` cache filler: the verifier's
    probability of each candidate's label, computed once per candidate."""
    cache: dict = {}

    def score(heard, dets):
        todo = [d for d in dets if (id(heard), d["time"], d["label"]) not in cache]
        if todo:
            x = np.stack([context.cut(heard.frames, d["time"], hearing_.silence)
                          for d in todo])
            p = verifier.predict(x, batch_size=512, verbose=0)
            for d, row in zip(todo, p, strict=True):
                cache[(id(heard), d["time"], d["label"])] = float(row[labels.index(d["label"])])
        return [cache[(id(heard), d["time"], d["label"])] for d in dets]

    return score


def measure(h, t1, k, t2, score) -> dict:
    """The room's and the sentences' figures at first threshold ``t1``, smoothing ``k``,
    verifier threshold ``t2`` (None: the first stage alone)."""
    from speechgru.talk_eval import room_metrics

    def kept(heard):
        dets = heard.detections(t1, k)
        if t2 is None or not dets:
            return dets
        return [d for d, p in zip(dets, score(heard, dets), strict=True) if p >= t2]

    m = room_metrics(kept(h.room), h.truth, h.room.duration)
    a = room_metrics(kept(h.alone), h.alone_truth, h.alone.duration)
    screened = a["speech"].get("screened", {})
    hours = m["speech_hours"] + screened.get("hours", 0.0)
    n = m["false_alarms_in_speech"] + screened.get("false_alarms", 0)
    passing = a["speech"].get("holds a command word", {})
    return {"t1": t1, "smoothing": k, "t2": t2, "found": m["command_recall"],
            "per_band": {b: v["command_recall"] for b, v in m["per_band"].items()},
            "other_words": m["other_words_accepted"],
            "fa_talk": n / hours if hours else None,
            "fa_noise": m["false_alarms_per_hour_of_noise"],
            "fa_passing": passing.get("per_hour"), "passing_n": passing.get("false_alarms")}


def best(rows, max_fa=1.0, max_other=0.03):
    ok = [r for r in rows if r["fa_talk"] is not None and r["fa_talk"] <= max_fa
          and (r["fa_noise"] or 0) <= max_fa and (r["other_words"] or 0) <= max_other]
    if not ok:
        return min(rows, key=lambda r: (r["fa_talk"], -r["found"]))
    return max(ok, key=lambda r: (r["found"], -r["fa_talk"]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run")
    ap.add_argument("--out", default="runs/bench-verifier")
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--units", default="64,64")
    ap.add_argument("--before", type=float, default=1.5)
    ap.add_argument("--after", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-commands", type=int, default=1500)
    args = ap.parse_args(argv)

    import keras

    from speechgru.config import ModelConfig
    from speechgru.data.talk import read_talk
    from speechgru.models import Mode, build_model
    from speechgru.run_dir import RunDir
    from speechgru.runtime.verifier import Context
    from speechgru.stream_eval import export_stream
    from speechgru.talk_eval import _noise_regions
    from speechgru.training.verifier import ROOM_GAP, TIGHT_GAP, examples

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run = RunDir(args.run)
    labels = run.labels()
    words = run.config().train.words
    talk = read_talk(TALK, words=words)
    part = {s: [x for x in talk if x.split == s] for s in ("train", "validation", "test")}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = export_stream(run, Path(tmp) / "m", "float32")
        hears = {}
        for split in ("train", "validation", "test"):
            regions = _noise_regions(run, None, run.split(split), split)
            big = split == "train"
            for name, gap, seed in (("room", ROOM_GAP, 0), ("tight", TIGHT_GAP, 1)):
                hears[(split, name)] = hearing(
                    model_dir, run, split, part[split], regions, seed=args.seed * 10 + seed,
                    gap=gap, max_commands=args.max_commands if big else 300,
                    max_others=500 if big else 150, alone=(name == "room"))
                print(f"heard {split} {name}: {hears[(split, name)].room.duration / 3600:.2f} h "
                      f"({time.time() - t0:.0f} s)", flush=True)
    F = run.config().features
    context = Context(F, args.before, args.after)
    rng = np.random.default_rng(args.seed)
    data = {}
    for split in ("train", "validation"):
        xs, ys = [], []
        for name in ("room", "tight"):
            x, y, about = examples(hears[(split, name)], context, labels, rng=rng,
                                   talk_windows=2000 if split == "train" else 300)
            xs.append(x)
            ys.append(y)
        data[split] = (np.concatenate(xs), np.concatenate(ys))
        counts = np.bincount(data[split][1], minlength=len(labels))
        print(f"{split}: {len(data[split][1])} windows of {context.frames} frames: "
              + ", ".join(f"{lab} {c}" for lab, c in zip(labels, counts, strict=True)),
              flush=True)
    x, y = data["train"]
    mean, var = x.reshape(-1, x.shape[-1]).mean(0), x.reshape(-1, x.shape[-1]).var(0)
    keras.utils.set_random_seed(args.seed)
    units = tuple(int(u) for u in args.units.split(","))
    model = build_model(ModelConfig(units=units, dropout=0.2), Mode.TRAINING,
                        num_features=x.shape[-1], num_classes=len(labels), mean=mean,
                        variance=var, name="verifier")
    counts = np.bincount(y, minlength=len(labels)).astype(np.float64)
    weight = {i: float(len(y) / (len(labels) * max(c, 1))) for i, c in enumerate(counts)}
    model.compile(optimizer=keras.optimizers.AdamW(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ckpt = out / "verifier.keras"
    model.fit(x, y, batch_size=128, epochs=args.epochs, class_weight=weight,
              validation_data=data["validation"], verbose=2,
              callbacks=[keras.callbacks.ModelCheckpoint(ckpt, monitor="val_loss",
                                                         save_best_only=True)])
    from speechgru.models.build import load_model

    model = load_model(ckpt)
    print(f"trained ({time.time() - t0:.0f} s)", flush=True)

    result = {"run": str(run.path), "context": context.to_json(), "units": units}
    for split in ("validation", "test"):
        for name in ("room", "tight"):
            h = hears[(split, name)]
            if name == "tight":  # no sentences alone in the tight room: reuse the room's
                h.alone, h.alone_truth = (hears[(split, "room")].alone,
                                          hears[(split, "room")].alone_truth)
            score = scores_at(h, model, context, labels)
            alone = [measure(h, t, k, None, score) for t in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9,
                                                             0.94, 0.97) for k in SMOOTHING]
            both = [measure(h, t1, k, t2, score) for t1 in T1_GRID for k in SMOOTHING
                    for t2 in T2_GRID]
            result[f"{split}_{name}"] = {"alone": alone, "verified": both}
    # settings chosen on validation (the room), reported on test
    for what in ("alone", "verified"):
        pick = best(result["validation_room"][what])
        key = ("t1", "smoothing", "t2")
        test_room = next(r for r in result["test_room"][what]
                         if all(r[k] == pick[k] for k in key))
        test_tight = next(r for r in result["test_tight"][what]
                          if all(r[k] == pick[k] for k in key))
        result[f"chosen_{what}"] = {"validation": pick, "test_room": test_room,
                                    "test_tight": test_tight}
        print(f"{what}: chosen on validation {pick['t1']}/{pick['smoothing']}/{pick['t2']}: "
              f"test room found {test_room['found']:.3f} "
              f"(5-10 dB {test_room['per_band'].get('5-10 dB')}), FA/h talk "
              f"{test_room['fa_talk']:.2f}, noise {test_room['fa_noise']}, passing "
              f"{test_room['fa_passing']}; tight found {test_tight['found']:.3f}", flush=True)
    (out / "result.json").write_text(json.dumps(result, indent=1))
    print(f"wrote {out / 'result.json'} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
