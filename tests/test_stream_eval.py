"""The streaming benchmark: the recording it builds, and the figures of a real model."""

import json

import numpy as np
import pytest

from speechgru.cli import main as cli
from speechgru.data import scan_dataset
from speechgru.stream_eval import build_recording, evaluate_stream


def test_the_recording_holds_every_word_where_the_truth_says(synth_dir):
    ds = scan_dataset(synth_dir)
    clips = [c for c in ds.clips if c.split == "validation"]
    pcm, words = build_recording(clips, ds.noise_files, seed=3, max_commands=12,
                                 max_others=8, background_seconds=60.0, noise_rms=0.002)
    assert len(words) == 20 and sum(w["label"] == "_unknown_" for w in words) == 8
    assert not any(w["label"] == "_silence_" for w in words)
    starts = [w["start"] for w in words]
    assert starts == sorted(starts)
    gaps = np.diff(starts)
    assert gaps.min() >= 0.4 - 1.0 and gaps.max() <= 2.6 + 1.0  # 1 s clips, 0.4–1.6 s apart
    sr = 16000
    # the background, away from the words, is at the RMS asked for (over the whole
    # recording: the noise files differ in level, so a few seconds of it need not be)
    away = np.ones(len(pcm), bool)
    for w in words:
        away[max(0, int((w["start"] - 1) * sr)):int((w["end"] + 1) * sr)] = False
    assert away[-58 * sr:].all()  # the background alone, at the end
    assert np.sqrt(np.mean(pcm[away].astype(np.float64) ** 2)) == pytest.approx(0.002, rel=0.3)
    for w in words:  # each word's span is loud against the background
        a, b = int(w["start"] * sr), int(w["end"] * sr)
        assert b > a and np.abs(pcm[a:b + 1]).max() > 20 * 0.002
    again, words2 = build_recording(clips, ds.noise_files, seed=3, max_commands=12,
                                    max_others=8, background_seconds=60.0, noise_rms=0.002)
    assert words2 == words and np.array_equal(again, pcm)


@pytest.mark.slow
def test_evaluate_stream_of_a_run_and_of_its_model(exported, synth_dir, tmp_path, capsys):
    root, report = exported
    r = evaluate_stream(root / "run", split="validation", max_commands=24, max_others=16,
                        background_seconds=20.0, thresholds=(0.3, 0.95), out_dir=tmp_path)
    assert r["threshold"] == report["operating_point"]["threshold"]
    assert (r["commands"], r["other_words"]) == (24, 16)
    assert r["found"] + r["substituted"] <= r["commands"]
    curve = {row["threshold"]: row for row in r["curve"]}
    assert curve[0.3]["command_recall"] > 0  # a weak model (unheard voices) finds some
    assert set(curve) == {0.3, 0.95, r["threshold"]}
    assert curve[0.3]["command_recall"] >= curve[0.95]["command_recall"]
    assert curve[0.3]["other_words_accepted"] >= curve[0.95]["other_words_accepted"]
    assert curve[r["threshold"]]["command_recall"] == r["command_recall"]
    saved = json.loads((tmp_path / "stream-validation-float32.json").read_text())
    assert saved["command_recall"] == r["command_recall"]
    assert (tmp_path / "stream-validation-float32-det.png").read_bytes()[:4] == b"\x89PNG"
    # the exported directory with --data gives the same kind of figures, at its manifest's
    # operating point, through the command line
    assert cli(["evaluate-stream", str(root / "model"), "--data", str(synth_dir), "--json",
                "--max-commands", "10", "--max-others", "5"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["threshold"] == r["threshold"] and m["commands"] == 10


def test_evaluate_stream_errors_name_what_is_missing(exported, tmp_path, capsys):
    root, _ = exported
    assert cli(["evaluate-stream", str(root / "model")]) == 2
    assert "--data" in capsys.readouterr().err
    assert cli(["evaluate-stream", str(root / "model"), "--data", str(tmp_path),
                "--split", "test"]) == 2
    assert "run directory" in capsys.readouterr().err
    assert cli(["evaluate-stream", str(tmp_path)]) == 2
    assert "neither a run directory" in capsys.readouterr().err
