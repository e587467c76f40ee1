"""The benchmark of a room where people talk: its known-answer scoring, the room it lays,
the replayed thresholds against listen itself, and the figures of a real model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import write

from speechgru.cli import main as cli
from speechgru.data import scan_dataset
from speechgru.data.talk import read_talk
from speechgru.talk_eval import (
    BANDS,
    NOISE_ALONE,
    SPEECH,
    NoiseBed,
    loud_power,
    room_metrics,
    room_stream,
)


def test_loud_power_is_the_loudest_400_ms():
    sr = 16000
    y = np.zeros(sr * 2)
    y[sr:sr + sr // 5] = 0.5  # 200 ms at power 0.25 inside a 400 ms window: mean 0.125
    assert loud_power(y, sr) == pytest.approx(0.125)
    assert loud_power(np.full(sr, 0.1), sr) == pytest.approx(0.01)


def test_room_metrics_known_answer():
    truth = [
        {"label": SPEECH, "start": 0.0, "end": 10.0, "file": "s1", "text": "HELLO THERE"},
        {"label": "yes", "start": 11.0, "end": 11.5, "band": "clean"},
        {"label": SPEECH, "start": 13.0, "end": 23.0, "file": "s2", "text": "A CAT"},
        {"label": "no", "start": 24.0, "end": 24.4, "band": "5-10 dB"},
        {"label": "_unknown_", "start": 30.0, "end": 30.5, "band": "clean"},
        {"label": NOISE_ALONE, "start": 40.0, "end": 76.0, "band": "10-20 dB"},
    ]
    dets = [{"time": 11.2, "label": "yes", "p": 0.9},   # found
            {"time": 24.3, "label": "go", "p": 0.9},    # "no" substituted
            {"time": 5.0, "label": "stop", "p": 0.95},  # in speech
            {"time": 30.1, "label": "up", "p": 0.8},    # the other word fires
            {"time": 50.0, "label": "on", "p": 0.8},    # in noise alone
            {"time": 35.0, "label": "on", "p": 0.8}]    # in a pause
    m = room_metrics(dets, truth, 80.0)
    assert (m["commands"], m["found"], m["substituted"]) == (2, 1, 1)
    assert m["per_band"]["clean"]["command_recall"] == 1.0
    assert m["per_band"]["5-10 dB"]["command_recall"] == 0.0
    assert m["other_words_accepted"] == 1.0
    assert m["false_alarms_in_speech"] == 1 and m["speech_hours"] == pytest.approx(20 / 3600)
    assert m["false_alarms_per_hour_of_speech"] == pytest.approx(180.0)
    assert m["false_alarms_per_hour_of_noise"] == pytest.approx(100.0)
    assert m["false_alarms_in_pauses"] == 1
    (fired,) = m["fired_in_talk"]
    assert fired["file"] == "s1" and fired["label"] == "stop" and fired["at"] == 5.0
    # nothing detected: nothing found, no false alarm
    m0 = room_metrics([], truth, 80.0)
    assert m0["command_recall"] == 0 and m0["false_alarms_per_hour_of_speech"] == 0


def _talk_folder(root, synth_dir, n=6):
    """Sentences made of the synthetic set's other words (none a command), said in turn."""
    ds = scan_dataset(synth_dir)
    others = [c for c in ds.clips if c.label == "_unknown_"]
    from speechgru.audio import load_clip

    rows = ["file,speaker,seconds,text"]
    for i in range(n):
        parts = [load_clip(c.path, sample_rate=16000, num_samples=16000)
                 for c in others[3 * i:3 * i + 3]]
        name = f"so/t{i % 3}_nohash_{i}.wav"
        write(root / name, np.concatenate(parts))
        said = " ".join(c.word.upper() for c in others[3 * i:3 * i + 3])
        rows.append(f"{name},t{i % 3},3.0,{said}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


def test_the_room_holds_each_word_at_its_band_after_sentences(synth_dir, tmp_path):
    ds = scan_dataset(synth_dir)
    talk = _talk_folder(tmp_path / "talk", synth_dir)
    sentences = read_talk(talk)
    cmds = [c for c in ds.clips if c.label == "yes"][:8]
    noise = write(tmp_path / "noise" / "white.wav",
                  0.1 * np.random.default_rng(0).standard_normal(16000 * 20).astype(np.float32))
    bed = NoiseBed([(noise, 0.0, None)], 16000)
    items = [(c, i % len(BANDS)) for i, c in enumerate(cmds)]
    truth: list[dict] = []
    pieces = list(room_stream(items, sentences, bed, truth, seed=1, noise_seconds=6.0))
    pcm = np.concatenate(pieces).astype(np.float64)
    words = [e for e in truth if e["label"] == "yes"]
    talk_spans = [e for e in truth if e["label"] == SPEECH]
    assert len(words) == 8 and 8 <= len(talk_spans) <= 24
    assert [w["band"] for w in words] == [BANDS[i % 4][0] for i in range(8)]
    sr = 16000
    for w in words:  # every word after a sentence, 0.3-1.2 s later (plus its own lead-in)
        before = [s for s in talk_spans if s["end"] <= w["start"]]
        assert before and w["start"] - before[-1]["end"] < 2.3
    from speechgru.audio import load_clip

    prev_end = 0.0
    for w, (clip, band) in zip(words, items, strict=True):
        mine = [t for t in talk_spans if prev_end <= t["start"] < w["start"]]
        prev_end = w["end"]
        lead = pcm[int((mine[0]["start"] - 0.29) * sr):int(mine[0]["start"] * sr)]
        p_noise = np.mean(lead ** 2)  # before the piece's first sentence: noise alone
        snr = BANDS[band][1]
        if snr is None:
            assert p_noise < 1e-8  # clean: nothing under it
            continue
        clean = load_clip(clip.path, sample_rate=sr, num_samples=sr).astype(np.float64)
        db = 10 * np.log10(loud_power(clean, sr) / p_noise)
        assert snr[0] - 1.0 <= db <= snr[1] + 1.0, (band, db)
        # the piece's sentences are brought to the word's level (one talker)
        for t in mine:
            a, e = int(t["start"] * sr), int(t["end"] * sr)
            assert loud_power(pcm[a:e], sr) == pytest.approx(loud_power(clean, sr), rel=0.6)
    alone = [e for e in truth if e["label"] == NOISE_ALONE]
    assert len(alone) == 3 and pytest.approx(6.0, abs=0.01) == sum(
        e["end"] - e["start"] for e in alone)
    assert len(pcm) / sr == pytest.approx(alone[-1]["end"], abs=0.01)


@pytest.mark.slow
def test_replayed_windows_are_what_listen_reports(exported, synth_dir):
    """The benchmark sweeps thresholds by replaying recorded windows through a Decider:
    the same detections as a Listener run at that threshold."""
    from speechgru.runtime.listener import Decider, Listener
    from speechgru.stream_eval import build_recording

    root, _ = exported
    ds = scan_dataset(synth_dir)
    pcm, _ = build_recording(ds.clips, ds.noise_files, seed=2, max_commands=20,
                             max_others=10, background_seconds=5.0)
    lis = Listener(root / "model", threshold=0.3)
    lis.record = []
    lis.reset()
    lis.feed(pcm)
    lis.flush()
    centres = np.array([c for c, _ in lis.record])
    probs = np.stack([p for _, p in lis.record])
    for t, smoothing in ((0.3, 2), (0.6, 1), (0.9, 3)):
        live = Listener(root / "model", threshold=t, smoothing=smoothing)
        want = live.feed(pcm) + live.flush()
        got = Decider(lis.labels, t, smoothing).replay(centres, probs)
        assert got == want
        assert t > 0.5 or want  # the low threshold detects something


@pytest.mark.slow
def test_the_room_benchmark_of_a_run_and_of_its_model(exported, synth_dir, tmp_path, capsys):
    root, report = exported
    talk = _talk_folder(tmp_path / "talk", synth_dir, n=9)
    from speechgru.data.talk import talk_split

    assert talk_split("t1") == "test"  # a model directory is judged on the talk's test part
    assert cli(["evaluate-stream", str(root / "model"), "--data", str(synth_dir), "--talk",
                str(talk), "--max-commands", "16", "--max-others", "8", "--json",
                "--out", str(tmp_path / "out")]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["commands"] == 16 and r["other_words"] == 8 and r["talk_part"] == "test"
    assert r["threshold"] == report["operating_point"]["threshold"]
    assert set(r["per_band"]) == {b for b, _ in BANDS}
    assert sum(v["commands"] for v in r["per_band"].values()) == 16
    curve = r["curve"]
    fa = [row["false_alarms_per_hour_of_speech"] for row in curve]
    found = [row["command_recall"] for row in curve]
    assert fa == sorted(fa, reverse=True) and found == sorted(found, reverse=True)
    assert found[0] > 0  # the model knows its voices' words at 0.5
    assert r["sentences_alone"]["speech"]["screened"]["hours"] > 0
    assert (tmp_path / "out" / f"talk-{synth_dir.name}-float32.png").read_bytes()[:4] == \
        b"\x89PNG"
