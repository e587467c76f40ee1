"""Evaluation: accuracy, per-class precision/recall, confusion, false accepts, rejection.

The *false-accept rate* is the share of ``_unknown_`` clips (real words that are not
commands) predicted as a command. A confidence threshold trades it against command recall:
a prediction whose top probability is below the threshold counts as ``_unknown_``.
"""

from __future__ import annotations

import numpy as np

from ..config import SILENCE, UNKNOWN

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


def format_report(m: dict) -> str:
    lines = [f"clips {m['clips']}  top-1 accuracy {m['accuracy']:.4f}  "
             f"false-accept rate {_pct(m['false_accept_rate'])}  "
             f"command recall {_pct(m['command_recall'])}"]
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
