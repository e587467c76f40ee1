"""The measures: accuracy, per-class precision/recall, confusion, false accepts, rejection,
the operating point's choice and the streaming figures (commands found, false alarms per
hour).

Pure NumPy on probabilities and truths, so training, export's model card and the room
benchmarks score alike; imports only :mod:`speechgru.config`.

The *false-accept rate* is the share of ``_unknown_`` clips (real words that are not
commands) predicted as a command. A confidence threshold trades it against command recall:
a prediction whose top probability is below the threshold counts as ``_unknown_``.
"""

from __future__ import annotations

import numpy as np

from .config import SILENCE, UNKNOWN

THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def reject_below(probs: np.ndarray, labels: list[str], threshold: float) -> np.ndarray:
    """Top-1 predictions, with ``_unknown_`` where the top probability is below threshold."""
    pred = probs.argmax(axis=1)
    if threshold > 0 and UNKNOWN in labels:
        pred = np.where(probs.max(axis=1) < threshold, labels.index(UNKNOWN), pred)
    return pred


def metrics(probs: np.ndarray, y: np.ndarray, labels: list[str],
            threshold: float = 0.0) -> dict:
    """All the numbers of one evaluation."""
    n = len(labels)
    pred = reject_below(probs, labels, threshold)
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    per_class = {}
    for i, k in enumerate(labels):
        support = int(cm[i].sum())
        predicted = int(cm[:, i].sum())
        per_class[k] = {
            "support": support,
            "precision": float(cm[i, i] / predicted) if predicted else None,
            "recall": float(cm[i, i] / support) if support else None,
        }
    commands = [i for i, k in enumerate(labels) if k not in (SILENCE, UNKNOWN)]
    out = {
        "clips": int(len(y)),
        "accuracy": float((pred == y).mean()) if len(y) else None,
        "top1": float((probs.argmax(axis=1) == y).mean()) if len(y) else None,
        "threshold": threshold,
        "per_class": per_class,
        "confusion": cm.tolist(),
        "labels": labels,
    }
    out.update(_accept_rates(probs, y, labels, commands, threshold))
    out["rejection_curve"] = [
        {"threshold": t, **_accept_rates(probs, y, labels, commands, t)} for t in THRESHOLDS]
    return out


def _accept_rates(probs, y, labels, commands, threshold) -> dict:
    pred = reject_below(probs, labels, threshold)
    is_cmd_pred = np.isin(pred, commands)
    unk = labels.index(UNKNOWN) if UNKNOWN in labels else -1
    unknown_mask = y == unk
    cmd_mask = np.isin(y, commands)
    return {
        "false_accept_rate": (float(is_cmd_pred[unknown_mask].mean())
                              if unknown_mask.any() else None),
        "command_recall": (float((pred[cmd_mask] == y[cmd_mask]).mean())
                           if cmd_mask.any() else None),
    }


def live_found(live: dict) -> str:
    """What the live choice found at its setting (the training report and the model card
    say it alike): the commands, or for a word of one's own its takes in synthetic voices,
    the other words that fire, the false alarms in talk."""
    share = live.get("synthetic_commands") or 0.0
    said = ("takes of the words (synthetic voices)" if share >= 0.999 else "commands"
            if share <= 0.001 else f"commands ({_pct(share)} synthetic)")
    return (f"{_pct(live['command_recall'])} of {live['commands']} {said} found, "
            f"{_pct(live['other_words_accepted'] or 0)} of other words fire, "
            f"{live['false_alarms_per_hour_of_talk']:.1f} false alarms per hour of "
            f"{live['talk_minutes']:.0f} min of talk")


def format_report(m: dict, *, brief: bool = False) -> str:
    """The metrics as text; ``brief``: the headline lines only."""
    at = f" at threshold {m['threshold']:.2f}" if m.get("threshold") else ""
    lines = [f"clips {m['clips']}  top-1 accuracy {m['top1']:.4f}",
             f"{at.strip() or 'without a threshold'}: accuracy {m['accuracy']:.4f}  "
             f"false-accept rate {_pct(m['false_accept_rate'])}  "
             f"command recall {_pct(m['command_recall'])}"]
    point = m.get("operating_point")
    if point and point.get("live"):
        live = point["live"]
        lines.append(f"the run's operating point, chosen live: threshold "
                     f"{point['threshold']:.2f}, {point.get('smoothing', 2)} windows averaged "
                     f"({'met' if live['met'] else 'NOT met, the fewest false alarms'}: "
                     f"{live_found(live)}; on lone clips it would have "
                     f"been {point.get('clip_threshold') or 0:.2f})")
    elif point:
        lines.append(f"the run's operating point: threshold {point['threshold']:.2f}, chosen on "
                     f"{point['chosen_on']} for at most "
                     f"{_pct(point['target_false_accept_rate'])} of them accepted")
        if point.get("uncertain"):
            lines.append(f"  uncertain: {point['uncertain']}")
        if point.get("synthetic_false_accept_rate") is not None:
            lines.append(f"  (synthetic near-misses accepted there: "
                         f"{_pct(point['synthetic_false_accept_rate'])})")
    if brief:
        return "\n".join(lines)
    lines.append(f"{'label':<12}{'support':>8}{'precision':>11}{'recall':>9}")
    for k, v in m["per_class"].items():
        lines.append(f"{k:<12}{v['support']:>8}{_f(v['precision']):>11}{_f(v['recall']):>9}")
    lines.append("rejection threshold -> false accepts / command recall:")
    for r in m["rejection_curve"]:
        lines.append(f"  {r['threshold']:.1f}: {_pct(r['false_accept_rate'])} / "
                     f"{_pct(r['command_recall'])}")
    return "\n".join(lines)


def _f(v):
    return "-" if v is None else f"{v:.3f}"


def _pct(v):
    return "-" if v is None else f"{100 * v:.1f} %"


TARGET_FALSE_ACCEPT = 0.03
DEFAULT_THRESHOLD = 0.6
#: the fewest real ``_unknown_`` clips the operating point is set on; with fewer, it is
#: set on every ``_unknown_`` clip (synthetic ones too), and says so
MIN_REAL_UNKNOWN = 30
# a word with fewer validation clips than this says little about its own rate; when most of
# the words weighing the same are such words, the threshold is said to be uncertain
FEW_CLIPS = 10
_GRID = tuple(round(0.1 + 0.01 * i, 2) for i in range(90))  # 0.10 ... 0.99


def _word_balanced(accepted: np.ndarray, words: np.ndarray | None) -> float:
    """The share accepted, each word weighing the same (its clips share its weight)."""
    if words is None:
        return float(accepted.mean())
    return float(np.mean([accepted[words == w].mean() for w in np.unique(words)]))


def choose_operating_point(probs: np.ndarray, y: np.ndarray, labels: list[str],
                           target: float = TARGET_FALSE_ACCEPT,
                           real: np.ndarray | None = None,
                           words: np.ndarray | None = None,
                           source: str = "validation") -> dict:
    """The lowest confidence threshold (0.10 … 0.99, steps of 0.01) at which at most
    ``target`` of the ``_unknown_`` clips (words that are not commands) are taken for a
    command: the threshold that rejects them with the least loss of command recall.

    ``real`` (per clip: a real recording, not synthetic speech): the threshold is set on
    the *real* other words alone when there are at least :data:`MIN_REAL_UNKNOWN` of them
    (synthetic near-misses are harder than what people say, so a threshold set on them
    rejects far more real commands than it needs to); the synthetic ones' rate at that
    threshold is reported beside it (``synthetic_false_accept_rate``), and the command
    recall is the real commands' when there are real ones. ``words`` (per clip: the word
    said): the share accepted is the mean over the other words of each word's share, so that
    thousands of clips of three words (bed, cat, happy) do not outvote the variety of the
    rest (what a model takes for a command is which *words*). ``source`` names the clips
    in the description (``chosen_on``).

    Without ``_unknown_`` clips there is nothing to calibrate on: the default 0.6, said so.
    When no threshold reaches the target, 0.99 and ``"reached": False``.
    """
    y = np.asarray(y)
    commands = [i for i, k in enumerate(labels) if k not in (SILENCE, UNKNOWN)]
    unk = labels.index(UNKNOWN) if UNKNOWN in labels else -1
    is_unk = y == unk
    n_unknown = int(is_unk.sum())
    if n_unknown == 0:
        return {"threshold": DEFAULT_THRESHOLD, "target_false_accept_rate": target,
                "chosen_on": "default: no _unknown_ clips to calibrate on",
                "unknown_clips": 0}
    real = np.ones(len(y), bool) if real is None else np.asarray(real, bool)
    n_real = int((is_unk & real).sum())
    on_real = n_real >= MIN_REAL_UNKNOWN
    # the clips the threshold is set on: every command clip (the real ones when the
    # threshold is set on real speech and there are some), and the chosen other words
    keep = (real if on_real else np.ones(len(y), bool))
    if on_real and not (real & np.isin(y, commands)).any():
        keep = real | ~is_unk
    rates = {}
    other = keep & is_unk
    w = None if words is None else np.asarray(words)[other]
    top, pred = probs.max(axis=1), probs.argmax(axis=1)
    for t in _GRID:
        rates = _accept_rates(probs[keep], y[keep], labels, commands, t)
        taken = (top[other] >= t) & np.isin(pred[other], commands)
        rates["false_accept_rate"] = _word_balanced(taken, w)
        if rates["false_accept_rate"] <= target:
            break
    point = {"threshold": t, "target_false_accept_rate": target,
             "false_accept_rate": rates["false_accept_rate"],
             # the same clips counted one by one (what `evaluate` reports)
             "clip_false_accept_rate": float(np.mean(
                 (top[other] >= t) & np.isin(pred[other], commands))) if other.any() else None,
             "command_recall": rates["command_recall"],
             "reached": rates["false_accept_rate"] <= target,
             "unknown_clips": int(keep[is_unk].sum())}
    synthetic = is_unk & ~real
    if w is not None:
        point["other_words"] = int(len(np.unique(w)))
    if on_real:
        sizes = None if w is None else np.unique(w, return_counts=True)[1]  # clips per word
        point["chosen_on"] = (f"{source}: {n_real} real recordings of other words"
                              + (f" ({len(sizes)} words, each weighing the same)"
                                 if sizes is not None else ""))
        if sizes is not None:
            few = sizes < FEW_CLIPS
            if few.sum() * 2 > len(sizes):
                point["uncertain"] = (
                    f"{int(few.sum())} of the {len(sizes)} words have fewer than {FEW_CLIPS} "
                    f"clips ({int(sizes[few].sum())} clips in all): the threshold rests on "
                    f"them and can move by a tenth or more from one run to another; real "
                    f"recordings of more words the model never heard (--threshold-data), or "
                    f"--threshold, settle it")
        if synthetic.any():
            point["synthetic_false_accept_rate"] = _accept_rates(
                probs[synthetic | ~is_unk], y[synthetic | ~is_unk], labels, commands,
                t)["false_accept_rate"]
            point["synthetic_unknown_clips"] = int(synthetic.sum())
    else:
        point["chosen_on"] = (f"{source}: every _unknown_ clip ({n_real} real, "
                              f"{int(synthetic.sum())} synthetic; fewer than "
                              f"{MIN_REAL_UNKNOWN} real)")
    return point


# ------------------------------------------------------------------ streams


def stream_metrics(detections: list[dict], words: list[dict], duration: float, *,
                   tolerance: float = 0.5) -> dict:
    """Score a detector on a long recording whose spoken words are known.

    ``detections``: ``{"time", "label"}`` as ``listen`` reports them. ``words``: ``{"label",
    "start", "end"}`` (seconds) of every word spoken, commands and other words (label
    ``_unknown_``). A detection belongs to the word whose span, widened by ``tolerance`` on
    each side, holds its time (the nearest one when two do); one outside every word is a
    false alarm. A command is *found* when a detection of its label belongs to it, and
    *substituted* when only other labels do; another word is *accepted* when any detection
    belongs to it. False alarms per hour count over the time outside every widened word.
    """
    spans = np.array([[w["start"] - tolerance, w["end"] + tolerance] for w in words],
                     np.float64).reshape(-1, 2)
    heard: list[list[str]] = [[] for _ in words]
    false_alarms = []
    for d in detections:
        t = float(d["time"])
        inside = np.flatnonzero((spans[:, 0] <= t) & (t <= spans[:, 1])) if len(words) else []
        if len(inside) == 0:
            false_alarms.append(d)
            continue
        centres = spans[inside].mean(axis=1)
        heard[int(inside[np.argmin(np.abs(centres - t))])].append(d["label"])
    commands = [i for i, w in enumerate(words) if not w["label"].startswith("_")]
    others = [i for i, w in enumerate(words) if w["label"].startswith("_")]
    found = [i for i in commands if words[i]["label"] in heard[i]]
    substituted = [i for i in commands if heard[i] and words[i]["label"] not in heard[i]]
    accepted = [i for i in others if heard[i]]
    covered, end = 0.0, 0.0  # the union of the widened spans inside the recording
    for a, b in sorted((max(0.0, s), min(duration, e)) for s, e in spans):
        if b > max(a, end):
            covered += b - max(a, end)
        end = max(end, b)
    background = max(duration - covered, 0.0)
    return {
        "commands": len(commands), "other_words": len(others),
        "found": len(found), "substituted": len(substituted), "accepted": len(accepted),
        "command_recall": len(found) / len(commands) if commands else None,
        "substitution_rate": len(substituted) / len(commands) if commands else None,
        "other_words_accepted": len(accepted) / len(others) if others else None,
        "false_alarms": len(false_alarms),
        "background_hours": background / 3600.0,
        "false_alarms_per_hour": (len(false_alarms) / (background / 3600.0)
                                  if background > 0 else None),
        "duration_s": duration,
    }
