"""The second look, trained: what the streaming model proposes, heard again with the
seconds around it.

A first-stage run (its streaming model, exported) hears rooms built by the room
benchmark's own builder (:class:`~speechgru.talk_eval.Hearing`) from the run's *train*
speakers and the talk's *train* speakers: commands and other words said after real
sentences with the gaps people leave, and with hardly a pause, said alone (nothing but
silence or the noise around them: a quiet room), over noise at the SNR bands, then every
sentence alone, those whose transcript says a command word in passing ("the bus will stop
here") included. Every candidate it proposes at a low threshold is
cut with its context (:class:`~speechgru.runtime.verifier.Context`) from the very frames
it heard, and labelled by the truth: the word it fell on (a command, or ``_unknown_`` for
another word), ``_unknown_`` in talk, ``_silence_`` in noise. Each command's own span is
added too (several offsets around its centre), so the verifier knows every word said to
the device, not only those the first stage found. The verifier is our MFCC → stacked GRU
(``build_model``, the hand-written cell) over that longer window.
"""

from __future__ import annotations

import numpy as np

from ..config import SILENCE, UNKNOWN
from ..talk_eval import NOISE_ALONE, SPEECH

TIGHT_GAP = (0.05, 0.25)  # hardly a pause between the talk and the command
ROOM_GAP = (0.3, 1.2)     # the room benchmark's
QUIET_GAP = (0.5, 2.0)    # a word alone: silence (or the noise alone) around it


def truth_label(time: float, truth: list[dict], tolerance: float = 0.5) -> str:
    """What a detection at ``time`` fell on: the word whose span (widened by
    ``tolerance``) holds it (the nearest centre when two do), else ``_silence_`` in noise
    alone, else ``_unknown_`` (talk or a pause)."""
    best, dist = None, np.inf
    for e in truth:
        if e["label"] in (SPEECH, NOISE_ALONE):
            continue
        if e["start"] - tolerance <= time <= e["end"] + tolerance:
            d = abs((e["start"] + e["end"]) / 2 - time)
            if d < dist:
                best, dist = e["label"], d
    if best is not None:
        return best
    for e in truth:
        if e["label"] == NOISE_ALONE and e["start"] <= time <= e["end"]:
            return SILENCE
    return UNKNOWN


def candidate_times(heard, threshold: float, smoothings=(1, 2, 3)) -> list[tuple[float, str]]:
    """``(time, proposed label)`` of every detection of a pass at ``threshold`` with any
    of ``smoothings`` (a candidate close to one already kept is the same one)."""
    out: list[tuple[float, str]] = []
    for k in smoothings:
        for d in heard.detections(threshold, k):
            if not any(abs(t - d["time"]) < 0.1 and lab == d["label"] for t, lab in out):
                out.append((float(d["time"]), d["label"]))
    return sorted(out)


def examples(hearing, context, labels: list[str], *, threshold: float = 0.3,
             offsets=(-0.15, 0.0, 0.15), rng: np.random.Generator | None = None,
             talk_windows: int = 0) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """``(x, y, about)`` of a :class:`~speechgru.talk_eval.Hearing` heard with frames: the
    windows of its candidates (room and sentences alone) labelled by the truth, of every
    word's span at ``offsets`` (s) from its centre, and of ``talk_windows`` random places
    in the sentences alone (``_unknown_``)."""
    rng = rng or np.random.default_rng(0)
    xs, ys, about = [], [], []
    passes = [(hearing.room, hearing.truth)]
    if hearing.alone is not None:
        passes.append((hearing.alone, hearing.alone_truth))
    for heard, truth in passes:
        for time, proposed in candidate_times(heard, threshold):
            lab = truth_label(time, truth)
            xs.append(context.cut(heard.frames, time, hearing.silence))
            ys.append(labels.index(lab))
            about.append({"time": time, "proposed": proposed, "label": lab,
                          "kind": "candidate"})
        for e in truth:
            if e["label"] in (SPEECH, NOISE_ALONE):
                continue
            centre = (e["start"] + e["end"]) / 2
            for off in offsets:
                xs.append(context.cut(heard.frames, centre + off, hearing.silence))
                ys.append(labels.index(e["label"]))
                about.append({"time": centre + off, "label": e["label"], "kind": "word"})
        talk = [e for e in truth if e["label"] == SPEECH]
        for _ in range(talk_windows if talk else 0):
            e = talk[int(rng.integers(len(talk)))]
            t = float(rng.uniform(e["start"], e["end"]))
            if truth_label(t, truth) != UNKNOWN:
                continue
            xs.append(context.cut(heard.frames, t, hearing.silence))
            ys.append(labels.index(UNKNOWN))
            about.append({"time": t, "label": UNKNOWN, "kind": "talk"})
    if not xs:
        return (np.zeros((0, context.frames, len(hearing.silence)), np.float32),
                np.zeros(0, np.int64), [])
    return np.stack(xs).astype(np.float32), np.array(ys, np.int64), about


VERIFIER = "verifier"  # the run's folder of its second look
FIRST_THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(6, 20))  # 0.30 ... 0.95
VERIFY_THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(2, 20))  # 0.10 ... 0.95
SMOOTHINGS = (1, 2, 3)


class KerasVerifier:
    """A trained verifier (Keras) with the interface of the exported one
    (:class:`~speechgru.runtime.verifier.Verifier`): ``context``, ``labels``, ``scores``."""

    def __init__(self, model, context, labels: list[str]):
        self.model, self.context, self.labels = model, context, list(labels)

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        return self.model.predict(np.asarray(windows, np.float32), batch_size=256, verbose=0)

    def scores(self, windows: np.ndarray, labels: list[str]) -> np.ndarray:
        p = self.probabilities(windows)
        return np.array([p[i, self.labels.index(lab)] for i, lab in enumerate(labels)],
                        np.float64)


def hear(model_dir, clips, sentences, regions, *, seed: int, max_commands: int | None,
         max_others: int | None, verifier=None, progress: bool = False) -> dict:
    """The rooms a second look is trained or judged in: ``"room"`` (the room benchmark's
    gaps, then every sentence alone), ``"tight"`` (hardly a pause before and after each
    word) and ``"quiet"`` (each word alone, silence or the noise alone around it), each
    heard once by the first stage with its frames kept."""
    from ..talk_eval import Hearing

    out = {}
    for name, gap, k, per in (("room", ROOM_GAP, 0, (1, 3)), ("tight", TIGHT_GAP, 1, (1, 3)),
                              ("quiet", QUIET_GAP, 2, (0, 0))):
        out[name] = Hearing(model_dir, "float32", clips, sentences, regions, seed=seed + k,
                            max_commands=max_commands, max_others=max_others, gap=gap,
                            sentences_alone=(name == "room"), frames=True, verifier=verifier,
                            progress=progress, sentences_per=per,
                            noise_seconds=0.0 if name == "quiet" else 120.0)
    return out


def setting_rows(hearing, *, first=FIRST_THRESHOLDS, verify=(None, *VERIFY_THRESHOLDS),
                 smoothings=SMOOTHINGS, quiet=None) -> list[dict]:
    """The room's figures at every (first threshold, smoothing, verifier threshold): the
    same windows and candidate scores replayed (``verify`` None: the first stage alone);
    with ``quiet`` (a hearing of words said alone), the share of its commands found too."""
    rows = []
    for t in first:
        for k in smoothings:
            for v in verify:
                m = hearing.score(t, k, verify=v)
                q = quiet.score(t, k, verify=v)["command_recall"] if quiet else None
                rows.append({
                    "threshold": t, "smoothing": k, "verifier_threshold": v,
                    "commands": m["commands"], "command_recall": m["command_recall"],
                    "quiet_command_recall": q,
                    "per_band": {b: r["command_recall"] for b, r in m["per_band"].items()},
                    "other_words_accepted": m["other_words_accepted"],
                    "false_alarms_per_hour_of_talk": m.get("false_alarms_per_hour_of_talk"),
                    "false_alarms_per_hour_of_noise": m["false_alarms_per_hour_of_noise"],
                    "passing": (m.get("sentences_alone") or {}).get("speech", {}).get(
                        "holds a command word", {}).get("per_hour")})
    return rows


def _found(row: dict) -> float:
    quiet = row.get("quiet_command_recall")
    return row["command_recall"] if quiet is None else (row["command_recall"] + quiet) / 2


def pick(rows: list[dict], max_false_alarms_per_hour: float = 1.0,
         max_other_words: float = 0.03) -> tuple[dict, bool]:
    """The setting that finds the most commands with at most ``max_false_alarms_per_hour``
    per hour of talk and of noise, and ``max_other_words`` of other words firing (a tie:
    the stricter); when none meets them, the fewest false alarms. ``(row, met)``. Found:
    the mean of the room's and, when the rows have it, of the quiet room's (words said
    alone): a second look must hear a word said in silence as well as one said in talk."""
    def ok(r):
        return ((r["false_alarms_per_hour_of_talk"] or 0) <= max_false_alarms_per_hour
                and (r["false_alarms_per_hour_of_noise"] or 0) <= max_false_alarms_per_hour
                and (r["other_words_accepted"] or 0) <= max_other_words)

    good = [r for r in rows if ok(r)]
    if good:
        return max(good, key=lambda r: (_found(r), r["verifier_threshold"] or 0,
                                        r["threshold"])), True
    return min(rows, key=lambda r: (r["false_alarms_per_hour_of_talk"] or 0,
                                    -r["command_recall"])), False


def train_verifier(run_dir, talk_dirs=None, *, epochs: int = 15, units=None,
                   before: float = 1.5, after: float = 1.0, seed: int | None = None,
                   max_commands: int | None = 1500, learning_rate: float | None = None,
                   max_unknown: int | None = 12000, progress: bool = True) -> dict:
    """Train a finished run's second look into ``RUN/verifier/`` and choose the operating
    point over both thresholds live (``operating_point.json``'s ``verifier``): see the
    module. ``talk_dirs``: the run's own (``train --talk``) by default. ``units`` None:
    the first stage's own architecture, started from its weights (it knows the words; the
    second look learns what the seconds around them say), at a learning rate of 3e-4;
    given: a GRU of those layers from random weights, at 1e-3. At most ``max_unknown``
    windows of other words and talk are drawn each time (the rest are commands). Returns
    the chosen point with the validation room's figures."""
    import json
    import tempfile
    from pathlib import Path

    import keras

    from ..config import ModelConfig
    from ..data.talk import read_talk
    from ..errors import ConfigError
    from ..models import Mode, build_model
    from ..models.build import load_model
    from ..run_dir import RunDir
    from ..runtime.verifier import Context
    from ..stream_eval import export_stream
    from ..talk_eval import _noise_regions
    from ..utils import atomic_write_text
    from .operating_point import _save

    run = RunDir(run_dir)
    if not run.exists():
        raise ConfigError(f"{run_dir}: not a run directory (config.json)")
    why = run.unfinished()
    if why:
        raise ConfigError(f"{run.path}: the run did not finish ({why}); a second look needs "
                          f"its first stage: speechgru train --out {run.path} --resume")
    talk_dirs = [str(d) for d in (talk_dirs or run.data().get("talk", []))]
    if not talk_dirs:
        raise ConfigError(f"{run_dir}: no talk to hear the commands between: give --talk DIR "
                          "(continuous speech)")
    config, labels = run.config(), run.labels()
    seed = config.train.seed if seed is None else seed
    talk = [s for d in talk_dirs for s in read_talk(d, words=config.train.words)]
    try:
        context = Context(config.features, before, after)
    except ValueError as exc:
        raise ConfigError(f"--before {before} / --after {after}: {exc}") from None
    rng = np.random.default_rng(seed)
    rooms = {}
    with tempfile.TemporaryDirectory(prefix="speechgru-verifier-") as tmp:
        model_dir = export_stream(run, Path(tmp) / "model", "float32")
        for split in ("train", "validation"):
            clips = run.split(split)
            sentences = [s for s in talk if s.split == split]
            if not sentences:
                raise ConfigError(f"{', '.join(talk_dirs)}: no sentence of the talk's {split} "
                                  "speakers")
            big = split == "train"
            rooms[split] = hear(model_dir, clips, sentences,
                                _noise_regions(run, None, clips, split), seed=seed * 10,
                                max_commands=max_commands if big else 300,
                                max_others=(max_commands // 3 if max_commands else None)
                                if big else 150, progress=progress)
    data = {}
    for split, hearings in rooms.items():
        parts = [examples(h, context, labels, rng=rng,
                          talk_windows=2000 if split == "train" else 300)
                 for h in hearings.values()]
        data[split] = (np.concatenate([p[0] for p in parts]),
                       np.concatenate([p[1] for p in parts]))
    x, y = data["train"]
    if len(np.unique(y)) < 2:
        raise ConfigError(f"{run.path}: the rooms gave the second look one label only")
    unknown = np.flatnonzero(y == labels.index(UNKNOWN))
    if max_unknown is not None and len(unknown) > max_unknown:  # commands keep their share
        drop = rng.choice(unknown, len(unknown) - max_unknown, replace=False)
        keep = np.setdiff1d(np.arange(len(y)), drop)
        x, y = x[keep], y[keep]
    keras.utils.set_random_seed(seed)
    if units is None:  # the first stage's GRUs and head, from its weights
        from ..models import copy_weights, normalization_stats

        first = run.load_model("best")
        model_config = config.model
        mean, var = normalization_stats(first)
        model = build_model(model_config, Mode.TRAINING, num_features=x.shape[-1],
                            num_classes=len(labels), mean=mean, variance=var,
                            name="verifier")
        copy_weights(first, model)
        learning_rate = learning_rate or 3e-4
    else:
        flat = x.reshape(-1, x.shape[-1])
        model_config = ModelConfig(units=tuple(units), dropout=0.2)
        model = build_model(model_config, Mode.TRAINING, num_features=x.shape[-1],
                            num_classes=len(labels), mean=flat.mean(0), variance=flat.var(0),
                            name="verifier")
        learning_rate = learning_rate or 1e-3
    counts = np.bincount(y, minlength=len(labels)).astype(np.float64)
    weight = {i: float(len(y) / (len(labels) * max(c, 1))) for i, c in enumerate(counts)}
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    out = run / VERIFIER
    out.mkdir(exist_ok=True)
    best = out / "best.keras"
    history = model.fit(x, y, batch_size=128, epochs=epochs, class_weight=weight,
                        validation_data=data["validation"], verbose=2 if progress else 0,
                        callbacks=[keras.callbacks.ModelCheckpoint(
                            best, monitor="val_loss", save_best_only=True)])
    model = load_model(best)
    vx, vy = data["validation"]
    pick_rows = np.random.default_rng(seed).permutation(len(vy))[:300]
    np.savez(out / "calibration.npz", x=vx[pick_rows], y=vy[pick_rows])
    verifier = KerasVerifier(model, context, labels)
    for h in rooms["validation"].values():
        h.verifier, h._scores = verifier, {}
    rows = setting_rows(rooms["validation"]["room"], quiet=rooms["validation"]["quiet"])
    alone = [r for r in rows if r["verifier_threshold"] is None]
    both = [r for r in rows if r["verifier_threshold"] is not None]
    chosen, met = pick(both)
    first_alone, _ = pick(alone)
    tight = rooms["validation"]["tight"].score(chosen["threshold"], chosen["smoothing"],
                                               verify=chosen["verifier_threshold"])
    info = {"context": context.to_json(), "units": list(model_config.units),
            "from_first_stage": units is None, "labels": labels,
            "epochs": epochs, "seed": seed, "talk": talk_dirs,
            "windows": {"train": int(len(y)), "validation": int(len(vy))},
            "train_counts": {lab: int(c) for lab, c in zip(labels, counts, strict=True)},
            "val_loss": [float(v) for v in history.history.get("val_loss", [])],
            "model": model_config.to_dict()}
    atomic_write_text(out / "verifier.json", json.dumps(info, indent=1))
    point = run.operating_point() or {}
    point = {**point, "verifier": {
        "threshold": chosen["threshold"], "smoothing": chosen["smoothing"],
        "verifier_threshold": chosen["verifier_threshold"], "met": met,
        "chosen_on": "live: the validation speakers' words between real sentences of the "
                     "talk's validation speakers, over noise at SNR bands, and those "
                     "sentences alone; first-stage threshold, smoothing and the second "
                     "look's threshold together",
        **{k: chosen[k] for k in ("commands", "command_recall", "per_band",
                                  "other_words_accepted", "false_alarms_per_hour_of_talk",
                                  "false_alarms_per_hour_of_noise", "passing")},
        "tight_command_recall": tight["command_recall"],
        "quiet_command_recall": chosen["quiet_command_recall"],
        "first_stage_alone": {k: first_alone[k] for k in (
            "threshold", "smoothing", "command_recall", "quiet_command_recall",
            "false_alarms_per_hour_of_talk")}}}
    _save(run, point)
    return point["verifier"]
