"""The metrics on cases whose answers are known by hand."""

import numpy as np
import pytest

from speechgru.training.evaluate import format_report, metrics, reject_below

LABELS = ["_silence_", "_unknown_", "yes", "no"]


def _probs(pred, conf):
    """One row per clip: ``conf`` on the predicted label, the rest shared equally."""
    p = np.full((len(pred), len(LABELS)), 0.0, np.float32)
    for i, (k, c) in enumerate(zip(pred, conf, strict=True)):
        p[i] = (1.0 - c) / (len(LABELS) - 1)
        p[i, k] = c
    return p


def test_accuracy_confusion_precision_recall_by_hand():
    y = np.array([2, 2, 3, 3, 1, 1, 0])
    pred = [2, 3, 3, 3, 2, 1, 0]
    m = metrics(_probs(pred, [0.9] * 7), y, LABELS)
    assert m["accuracy"] == pytest.approx(5 / 7)
    cm = np.array(m["confusion"])
    assert cm[2, 3] == 1 and cm[1, 2] == 1 and np.trace(cm) == 5 and cm.sum() == 7
    assert m["per_class"]["yes"] == {"support": 2, "precision": 0.5, "recall": 0.5}
    assert m["per_class"]["no"] == {"support": 2, "precision": pytest.approx(2 / 3),
                                    "recall": 1.0}
    # one of the two unknown clips was taken for "yes"; 3 of 4 commands are right
    assert m["false_accept_rate"] == 0.5
    assert m["command_recall"] == 0.75


def test_rejection_threshold_trades_false_accepts_for_recall():
    y = np.array([2, 3, 1, 1])
    pred = [2, 3, 2, 3]
    conf = [0.95, 0.55, 0.65, 0.35]
    curve = {r["threshold"]: r for r in metrics(_probs(pred, conf), y, LABELS)[
        "rejection_curve"]}
    assert curve[0.0]["false_accept_rate"] == 1.0 and curve[0.0]["command_recall"] == 1.0
    assert curve[0.4]["false_accept_rate"] == 0.5 and curve[0.4]["command_recall"] == 1.0
    assert curve[0.6]["false_accept_rate"] == 0.5 and curve[0.6]["command_recall"] == 0.5
    assert curve[0.7]["false_accept_rate"] == 0.0 and curve[0.7]["command_recall"] == 0.5
    assert curve[0.9]["command_recall"] == 0.5
    assert list(reject_below(_probs(pred, conf), LABELS, 0.6)) == [2, 1, 2, 1]


def test_a_constant_predictor_scores_what_it_should():
    y = np.array([0, 1, 1, 2, 3, 3, 3, 2])
    m = metrics(_probs([3] * 8, [0.9] * 8), y, LABELS)
    assert m["accuracy"] == 3 / 8
    recalls = [v["recall"] for v in m["per_class"].values()]
    assert np.mean(recalls) == 0.25  # 1 / classes: a constant predictor learnt nothing
    assert m["false_accept_rate"] == 1.0


def test_missing_classes_give_none_and_the_report_prints_them():
    y = np.array([2, 3])
    m = metrics(_probs([2, 3], [0.8, 0.8]), y, LABELS)
    assert m["false_accept_rate"] is None and m["per_class"]["_unknown_"]["recall"] is None
    text = format_report(m)
    assert "top-1 accuracy 1.0000" in text and "false-accept rate -" in text
