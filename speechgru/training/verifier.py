"""The second look, trained: what the streaming model proposes, heard again with the
seconds around it.

A first-stage run (its streaming model, exported) hears rooms built by the room
benchmark's own builder (:class:`~speechgru.talk_eval.Hearing`) from the run's *train*
speakers and the talk's *train* speakers: commands and other words said after real
sentences with the gaps people leave, and with hardly a pause, over noise at the SNR
bands, then every sentence alone, those whose transcript says a command word in passing
("the bus will stop here") included. Every candidate it proposes at a low threshold is
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
