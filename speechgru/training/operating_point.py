"""A run's operating point: the threshold below which an answer is ``_unknown_``.

It is chosen on the run's validation split and, when the run names them
(``train --threshold-data DIR``, kept in ``data.json``), on folders of real recordings
the model never heard: recordings of *other words* (any words that are not commands,
e.g. FSDD's spoken digits) make the threshold rest on many words rather than on the
handful a validation split holds. Their command clips, if any, count in the command
recall. ``speechgru operating-point RUN`` chooses it again for a finished run.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ..config import SILENCE, RunConfig, read_json
from ..data.cache import extract_features
from ..data.layouts import Clip, scan_dataset
from ..errors import ConfigError, DataError
from ..run_dir import RunDir
from ..utils import atomic_write_text, inside
from .data import _real_rows


def threshold_clips(dirs: list[str | Path], config: RunConfig,
                    splits: dict[str, list[Clip]], sources: list[str | Path] = ()
                    ) -> tuple[list[Clip], list[tuple[str, str]]]:
    """The spoken clips of ``dirs`` (every split of each; no silence) and the bad files
    met. A folder that is also a training source, or holds a clip of the run's splits, is an
    error: the threshold must be set on recordings the model never heard and that do not
    judge it."""
    tc = config.train
    clips: list[Clip] = []
    bad: list[tuple[str, str]] = []
    in_splits = {c.path.absolute(): name for name, cs in splits.items() for c in cs}
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise DataError(f"{d}: not a folder of recordings (--threshold-data)")
        clash = next((s for s in sources if inside(d, s) or inside(s, d)), None)
        if clash is not None:
            raise ConfigError(f"{d}: also training data ({clash}); --threshold-data must be "
                              "recordings the model is not trained on")
        ds = scan_dataset(d, words=tc.words, validation_percent=0.0, testing_percent=0.0,
                          clip_seconds=config.features.clip_seconds)
        spoken = [c for c in ds.clips if c.label != SILENCE]
        seen = next((c for c in spoken if c.path.absolute() in in_splits), None)
        if seen is not None:
            raise ConfigError(f"{seen.path}: in the run's {in_splits[seen.path.absolute()]} "
                              f"split, so {d} cannot set its threshold (--threshold-data "
                              "must be recordings the run neither trains on nor is judged on)")
        if not spoken:
            raise DataError(f"{d}: no spoken clip in it (--threshold-data: recordings of "
                            "other words, in a layout check-data reads)")
        clips += spoken
        bad += ds.bad
    return clips, bad


def choose_for_run(run: RunDir, model, probs: np.ndarray, y_val: np.ndarray,
                   val_clips: list[Clip], *, cache_dir: str | Path | None,
                   dirs: list[str] | None = None) -> dict:
    """The operating point of ``run``'s ``model`` (``probs``: its probabilities on the
    validation clips), on them and on ``dirs`` (None: the run's ``threshold_data``)."""
    from ..metrics import choose_operating_point

    config = run.config()
    labels = config.train.labels
    clips = list(val_clips)
    if dirs is None:
        dirs = run.data().get("threshold_data", [])
    source = "validation"
    extra: dict = {}
    if dirs:
        more, bad = threshold_clips(dirs, config, run.splits(), run.data().get("sources", []))
        feats = extract_features(more, config.features, cache_dir=cache_dir, progress=False)
        if len(feats.clips) == 0:
            raise DataError(f"{dirs[0]}: no clip of --threshold-data could be read "
                            f"({len(bad + feats.bad)} bad files)")
        probs = np.concatenate([probs, model.predict(feats.x, batch_size=256, verbose=0)])
        y_val = np.concatenate([y_val, feats.labels(labels)])
        clips += feats.clips
        source = "validation and " + ", ".join(Path(d).name for d in dirs)
        # names only: the point travels into exports (their manifest), the paths stay in
        # the run's data.json
        extra = {"threshold_data": {"folders": [Path(d).name for d in dirs],
                                    "clips": len(feats.clips),
                                    "bad_files": len(bad + feats.bad)}}
    point = choose_operating_point(probs, y_val, labels, config.train.target_false_accept,
                                   real=_real_rows(clips), words=np.array([c.word for c in clips]),
                                   source=source)
    point.update(extra)
    return point


def set_again(run_dir: str | Path, threshold_data: list[str | Path] | None = None, *,
              cache_dir: str | Path | None = ".cache/features") -> dict:
    """Choose a finished run's operating point again (``speechgru operating-point``): on
    its validation split and ``threshold_data`` (None: the folders the run names; ``[]``:
    none). Rewrites ``operating_point.json``, ``metrics.json``'s copy and ``data.json``'s
    list; an export made before keeps its own threshold until exported again."""
    run = RunDir(run_dir)
    config, labels, model = run.load()
    data = run.data()
    dirs = (data.get("threshold_data", []) if threshold_data is None
            else [os.path.abspath(d) for d in threshold_data])
    threshold_clips(dirs, config, run.splits(), data.get("sources", []))  # before any work
    val = extract_features(run.split("validation"), config.features, cache_dir=cache_dir,
                           progress=False)
    probs = model.predict(val.x, batch_size=256, verbose=0)
    point = choose_for_run(run, model, probs, val.labels(labels), val.clips,
                           cache_dir=cache_dir, dirs=dirs)
    if data or dirs:
        run.save_data({**data, "threshold_data": dirs})
    _save(run, point)
    return point


def _save(run: RunDir, point: dict) -> None:
    """The point into ``operating_point.json`` and ``metrics.json``'s copy."""
    run.save_operating_point(point)
    metrics = run / "metrics.json"
    if metrics.is_file():
        m = read_json(metrics)
        m["operating_point"] = point
        atomic_write_text(metrics, json.dumps(m, indent=1))


LIVE_THRESHOLDS = tuple(round(0.5 + 0.01 * k, 2) for k in range(50))  # 0.50 ... 0.99
LIVE_SMOOTHING = (1, 2, 3)


def choose_live(run_dir: str | Path, talk_dirs: list[str | Path] | None = None, *,
                max_false_alarms_per_hour: float = 1.0, max_other_words: float = 0.03,
                seed: int = 0, variant: str = "float32", save: bool = True,
                progress: bool = False) -> dict:
    """The operating point chosen live: the room benchmark of the run's *validation*
    speakers (their commands and other words, each after real sentences of the talk's
    validation speakers, over the run's noise at every SNR band) and those sentences alone,
    heard once by the streaming model; then every threshold (0.50 ... 0.99) and smoothing
    (1-3 windows) replayed, and the setting that finds the most commands with at most
    ``max_false_alarms_per_hour`` per hour of talk (both passes), at most that per hour of
    noise alone, and at most ``max_other_words`` of the other words firing (a tie: the
    higher threshold). When none meets them, the fewest false alarms (``"met": False``).
    ``talk_dirs``: the run's own (``train --talk``) by default. With ``save``, the run's
    ``operating_point.json`` takes the threshold and smoothing (the clip-level choice kept
    beside them as ``clip_threshold``), and an export of the run carries them."""
    from ..data.talk import read_talk
    from ..stream_eval import export_stream
    from ..talk_eval import Hearing, _noise_regions
    from .data import _real_rows

    run = RunDir(run_dir)
    if not run.exists():
        raise ConfigError(f"{run_dir}: not a run directory (config.json)")
    talk_dirs = [str(d) for d in (talk_dirs or run.data().get("talk", []))]
    if not talk_dirs:
        raise ConfigError(f"{run_dir}: no talk to choose the operating point live on: give "
                          "--talk DIR (continuous speech; its validation speakers are used)")
    config = run.config()
    clips = run.split("validation")
    sentences = [s for d in talk_dirs for s in read_talk(d, words=config.train.words)
                 if s.split == "validation"]
    regions = _noise_regions(run, None, clips, "validation")
    said = [c for c in clips if not c.label.startswith("_")]
    # the share of the takes of the words in synthetic voices (all of them for a word of
    # one's own: its found rate is then on synthetic takes)
    synthetic = float(np.mean(~_real_rows(said))) if said else 0.0
    with tempfile.TemporaryDirectory(prefix="speechgru-live-") as tmp:
        model = export_stream(run, Path(tmp) / "model", variant)
        hearing = Hearing(model, variant, clips, sentences, regions, seed=seed,
                          progress=progress)
    rows = []
    for smoothing in LIVE_SMOOTHING:
        for t in LIVE_THRESHOLDS:
            m = hearing.score(t, smoothing)
            rows.append({"threshold": t, "smoothing": smoothing, "commands": m["commands"],
                         "command_recall": m["command_recall"],
                         "per_band": {k: v["command_recall"] for k, v in m["per_band"].items()},
                         "other_words_accepted": m["other_words_accepted"],
                         "false_alarms_per_hour_of_talk": m["false_alarms_per_hour_of_talk"],
                         "false_alarms_per_hour_of_noise": m["false_alarms_per_hour_of_noise"],
                         "talk_hours": m["talk_hours"]})

    def ok(r):
        return ((r["false_alarms_per_hour_of_talk"] or 0) <= max_false_alarms_per_hour
                and (r["false_alarms_per_hour_of_noise"] or 0) <= max_false_alarms_per_hour
                and (r["other_words_accepted"] or 0) <= max_other_words)

    good = [r for r in rows if ok(r)]
    best = (max(good, key=lambda r: (r["command_recall"], r["threshold"])) if good else
            min(rows, key=lambda r: (r["false_alarms_per_hour_of_talk"],
                                     -r["command_recall"])))
    before = run.operating_point() or {}
    point = {**{k: v for k, v in before.items() if k not in ("live",)},
             "threshold": best["threshold"], "smoothing": best["smoothing"],
             "clip_threshold": before.get("clip_threshold", before.get("threshold")),
             "chosen_on": (f"live: the validation speakers' commands and other words between "
                           f"real sentences of {', '.join(Path(d).name for d in talk_dirs)}'s "
                           "validation speakers, over noise at SNR bands, and those sentences "
                           "alone"),
             "live": {"met": bool(good), "max_false_alarms_per_hour": max_false_alarms_per_hour,
                      "synthetic_commands": synthetic,
                      "max_other_words": max_other_words,
                      "talk_minutes": round(60 * best["talk_hours"], 1),
                      **{k: best[k] for k in ("commands", "command_recall", "per_band",
                                              "other_words_accepted",
                                              "false_alarms_per_hour_of_talk",
                                              "false_alarms_per_hour_of_noise")}}}
    if save:
        _save(run, point)
    return point
