"""The metrics on cases whose answers are known by hand."""

import numpy as np
import pytest

from speechgru.metrics import format_report, metrics, reject_below

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


def test_the_operating_point_is_the_lowest_threshold_meeting_the_target():
    from speechgru.metrics import choose_operating_point

    y = np.array([1, 1, 1, 1, 2, 3, 2, 3])
    pred = [2, 3, 2, 1, 2, 3, 2, 3]  # three unknown clips taken for commands...
    conf = [0.95, 0.705, 0.5, 0.9, 0.99, 0.9, 0.8, 0.6]  # ...with these confidences
    p = choose_operating_point(_probs(pred, conf), y, LABELS, target=0.3)
    # at most 1 of the 4 unknown clips may pass: only the 0.95 one, so just above 0.705
    assert p["threshold"] == 0.71 and p["reached"] and p["false_accept_rate"] == 0.25
    assert p["command_recall"] == 0.75  # the 0.6 "no" is rejected with them
    assert p["unknown_clips"] == 4 and p["chosen_on"].startswith("validation: every")
    strict = choose_operating_point(_probs(pred, conf), y, LABELS, target=0.0)
    assert strict["threshold"] == 0.96 and strict["false_accept_rate"] == 0.0
    sure = choose_operating_point(_probs([2, 2], [0.999, 0.99]), np.array([1, 2]), LABELS,
                                  target=0.0)
    assert sure["threshold"] == 0.99 and not sure["reached"]
    none = choose_operating_point(_probs([2], [0.9]), np.array([2]), LABELS)
    assert none["threshold"] == 0.6 and none["chosen_on"].startswith("default")


def test_the_operating_point_is_set_on_real_other_words():
    """Synthetic near-misses that the model takes for commands with confidence 0.95 would
    push the threshold to 0.96 and reject every command; set on the real other words
    (30 or more), the threshold lets the commands through and the synthetic rate is
    reported beside it. With fewer real ones, every _unknown_ clip counts, said so."""
    from speechgru.metrics import MIN_REAL_UNKNOWN, choose_operating_point

    n = MIN_REAL_UNKNOWN
    # n real other words (1 of them taken for "yes" at 0.8), 10 synthetic near-misses
    # all taken for "yes" at 0.95, 4 real commands at 0.9
    y = np.array([1] * n + [1] * 10 + [2, 3, 2, 3])
    pred = [1] * (n - 1) + [2] + [2] * 10 + [2, 3, 2, 3]
    conf = [0.9] * (n - 1) + [0.8] + [0.95] * 10 + [0.9] * 4
    real = np.array([True] * n + [False] * 10 + [True] * 4)
    probs = _probs(pred, conf)
    p = choose_operating_point(probs, y, LABELS, target=0.03, real=real)
    assert p["threshold"] == 0.81 and p["false_accept_rate"] == 0.0
    assert p["command_recall"] == 1.0 and p["unknown_clips"] == n
    assert p["synthetic_false_accept_rate"] == 1.0 and p["synthetic_unknown_clips"] == 10
    assert p["chosen_on"] == f"validation: {n} real recordings of other words"
    everything = choose_operating_point(probs, y, LABELS, target=0.03)  # all counted real
    assert everything["threshold"] == 0.96 and everything["command_recall"] == 0.0
    few = real.copy()
    few[:n - MIN_REAL_UNKNOWN + 1] = False  # one real other word short
    short = choose_operating_point(probs, y, LABELS, target=0.03, real=few)
    assert short["threshold"] == 0.96 and "fewer than" in short["chosen_on"]
    assert "synthetic_false_accept_rate" not in short


def test_a_threshold_resting_on_few_clips_of_most_words_is_said_to_be_uncertain():
    """Each word weighs the same: when most words have a few clips each, one clip decides
    the threshold, and the point says so (and the report prints it)."""
    from speechgru.metrics import FEW_CLIPS, choose_operating_point, format_report

    n_big = 3 * FEW_CLIPS
    y = np.array([1] * (n_big + 4) + [2, 3])
    probs = _probs([1] * (n_big + 4) + [2, 3], [0.9] * (n_big + 6))
    real = np.ones(len(y), bool)
    steady = np.array(["bed"] * FEW_CLIPS + ["cat"] * FEW_CLIPS + ["dog"] * (FEW_CLIPS + 4)
                      + ["yes", "no"])
    assert "uncertain" not in choose_operating_point(probs, y, LABELS, real=real, words=steady)
    sparse = np.array(["bed"] * n_big + ["tree", "wow", "four", "learn", "yes", "no"])
    p = choose_operating_point(probs, y, LABELS, real=real, words=sparse)
    assert p["uncertain"].startswith(f"4 of the 5 words have fewer than {FEW_CLIPS} clips "
                                     "(4 clips in all)")
    report = format_report({"clips": 1, "top1": 1.0, "accuracy": 1.0, "threshold": None,
                            "false_accept_rate": 0.0, "command_recall": 1.0,
                            "operating_point": p}, brief=True)
    assert "uncertain: 4 of the 5 words" in report

def test_stream_metrics_on_a_recording_with_known_detections():
    from speechgru.metrics import stream_metrics

    words = [{"label": "yes", "start": 1.0, "end": 1.5},
             {"label": "no", "start": 4.0, "end": 4.4},
             {"label": "_unknown_", "start": 7.0, "end": 7.6},
             {"label": "go", "start": 10.0, "end": 10.3},
             {"label": "_unknown_", "start": 13.0, "end": 13.5}]
    detections = [{"time": 1.2, "label": "yes"},    # found
                  {"time": 4.3, "label": "go"},     # "no" heard as "go": substituted
                  {"time": 7.4, "label": "yes"},    # an other word that fires
                  {"time": 10.7, "label": "go"},    # within the 0.5 s tolerance: found
                  {"time": 20.0, "label": "stop"},  # nothing spoken there: a false alarm
                  {"time": 25.0, "label": "yes"}]   # another
    m = stream_metrics(detections, words, duration=36.0, tolerance=0.5)
    assert (m["commands"], m["other_words"]) == (3, 2)
    assert (m["found"], m["substituted"], m["accepted"], m["false_alarms"]) == (2, 1, 1, 2)
    assert m["command_recall"] == pytest.approx(2 / 3)
    assert m["substitution_rate"] == pytest.approx(1 / 3)
    assert m["other_words_accepted"] == 0.5
    # background: 36 s minus the five widened spans (1.5 + 1.4 + 1.6 + 1.3 + 1.5 s)
    assert m["background_hours"] * 3600 == pytest.approx(36.0 - 7.3)
    assert m["false_alarms_per_hour"] == pytest.approx(2 / ((36.0 - 7.3) / 3600))
    nothing = stream_metrics([], words, duration=36.0)
    assert nothing["command_recall"] == 0.0 and nothing["false_alarms_per_hour"] == 0.0


def test_overlapping_spans_count_once_and_a_detection_goes_to_the_nearest_word():
    from speechgru.metrics import stream_metrics

    words = [{"label": "yes", "start": 1.0, "end": 1.4},
             {"label": "_unknown_", "start": 2.0, "end": 2.4}]  # widened spans overlap
    m = stream_metrics([{"time": 1.85, "label": "yes"}], words, duration=10.0)
    assert m["accepted"] == 1 and m["found"] == 0  # 1.85 is nearer the other word's centre
    assert m["background_hours"] * 3600 == pytest.approx(10.0 - (2.9 - 0.5))


def test_each_other_word_weighs_the_same_in_the_operating_point():
    """100 clips of "bed", none taken for a command, do not hide that both clips of "bird"
    are (at 0.9): counted clip by clip 2 % pass at any threshold; word by word half the
    words do until the threshold rejects them."""
    from speechgru.metrics import choose_operating_point

    y = np.array([1] * 102 + [2, 3])
    pred = [1] * 100 + [2, 2] + [2, 3]
    conf = [0.9] * 100 + [0.9, 0.9] + [0.95, 0.95]
    words = np.array(["bed"] * 100 + ["bird"] * 2 + ["yes", "no"])
    probs = _probs(pred, conf)
    flat = choose_operating_point(probs, y, LABELS, target=0.03)
    assert flat["threshold"] == 0.1 and flat["false_accept_rate"] == pytest.approx(2 / 102)
    balanced = choose_operating_point(probs, y, LABELS, target=0.03, words=words)
    assert balanced["threshold"] == 0.91 and balanced["false_accept_rate"] == 0.0
    assert balanced["other_words"] == 2 and balanced["command_recall"] == 1.0
