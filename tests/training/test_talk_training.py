"""Training that has heard talk: windows of talk in the splits, their own share of each
epoch, hard negatives mined (resumable) and read back, the operating point chosen live."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
from conftest import EXPORT_CFG, write

from speechgru.cli import main as cli
from speechgru.data import scan_dataset
from speechgru.data.talk import HARD_WORD, TALK_WORD, read_talk, talk_split
from speechgru.errors import DataError
from speechgru.training.data import plan_splits
from speechgru.training.hard_negatives import FORMAT, mine, read_hard_negatives
from speechgru.training.sampling import epoch_indices


def test_talk_and_hard_negatives_are_drawn_at_their_own_ratios():
    labels = ["_silence_", "_unknown_", "yes", "no"]
    y = np.array([0] * 5 + [1] * 100 + [1] * 300 + [1] * 7 + [2] * 20 + [3] * 20)
    words = np.array(["_silence_"] * 5 + ["bed"] * 100 + [TALK_WORD] * 300 + [HARD_WORD] * 7
                     + ["yes"] * 20 + ["no"] * 20, object)
    cfg = dataclasses.replace(EXPORT_CFG, train=dataclasses.replace(
        EXPORT_CFG.train, talk_ratio=1.5, hard_ratio=0.5, unknown_ratio=3.0,
        real_unknown_share=0.0))
    a = epoch_indices(y, labels, cfg, 2, None, words)
    drawn = {w: int(np.sum(words[a] == w)) for w in ("bed", TALK_WORD, HARD_WORD)}
    # mean command count 20: talk 1.5 x 20, hard 0.5 x 20 (7 windows drawn again), the
    # other unknown clips 3 x 20 from their own pool, as before talk was added
    assert drawn == {"bed": 60, TALK_WORD: 30, HARD_WORD: 10}
    off = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, talk_ratio=0.0))
    assert not np.any(words[epoch_indices(y, labels, off, 2, None, words)] == TALK_WORD)


def _talk(root, speakers, seconds=4.0):
    rows = ["file,speaker,seconds,text"]
    rng = np.random.default_rng(0)
    for i, spk in enumerate(speakers):
        name = f"so/{spk}_nohash_{i}.wav"
        write(root / name, (0.05 * rng.standard_normal(int(16000 * seconds))).astype(
            np.float32))
        rows.append(f"{name},{spk},{seconds},THE CAT SAT")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


def _speakers(part, n, start=0):
    out, k = [], start
    while len(out) < n:
        if talk_split(f"p{k}") == part:
            out.append(f"p{k}")
        k += 1
    return out


def test_talk_windows_join_train_and_validation_never_test(synth_dir, tmp_path):
    spk = _speakers("train", 2) + _speakers("validation", 1) + _speakers("test", 2)
    talk = _talk(tmp_path / "talk", spk)
    splits, _ = plan_splits([synth_dir], EXPORT_CFG, talk_dirs=[talk])
    windows = {s: [c for c in cs if c.word == TALK_WORD] for s, cs in splits.items()}
    assert len(windows["train"]) == 2 * 3 and len(windows["validation"]) == 3
    assert windows["test"] == []
    assert {c.speaker for c in windows["train"]} == set(spk[:2])


def _write_hard(path, windows):
    path.write_text(json.dumps({"format": FORMAT, "windows": windows}))
    return path


def test_hard_negatives_come_from_train_speakers_only(tmp_path):
    train_spk, test_spk = _speakers("train", 1)[0], _speakers("test", 1)[0]
    talk = _talk(tmp_path / "talk", [train_spk, test_spk])
    files = {s.speaker: str(s.path) for s in read_talk(talk)}
    ok = _write_hard(tmp_path / "ok.json", [{"file": files[train_spk], "speaker": train_spk,
                                             "offset": 1.2, "seconds": 1.0}])
    (clip,) = read_hard_negatives(ok)
    assert (clip.label, clip.word, clip.split, clip.offset) == ("_unknown_", HARD_WORD,
                                                                "train", 1.2)
    leak = _write_hard(tmp_path / "leak.json", [{"file": files[test_spk], "speaker": test_spk,
                                                 "offset": 0.0, "seconds": 1.0}])
    with pytest.raises(DataError, match="not in the talk's train part"):
        read_hard_negatives(leak)
    for bad, needle in ((tmp_path / "none.json", "no such hard-negatives file"),
                        (_write_hard(tmp_path / "d.json", [{"file": files[train_spk]}]),
                         "damaged"),
                        (_write_hard(tmp_path / "n.json", [{"file": files[train_spk],
                                                            "speaker": train_spk,
                                                            "offset": float("nan"),
                                                            "seconds": 1.0}]), "offset")):
        with pytest.raises(DataError, match=needle):
            read_hard_negatives(bad)
    (tmp_path / "other.json").write_text('{"windows": []}')
    with pytest.raises(DataError, match="not a hard-negatives file"):
        read_hard_negatives(tmp_path / "other.json")


def _spoken_talk(root, synth_dir, speakers):
    """Sentences of the synthetic set's words, commands among them (a model that knows the
    commands fires there), transcripts saying only other words: mining must find windows."""
    from speechgru.audio import load_clip

    ds = scan_dataset(synth_dir)
    words = [c for c in ds.clips if c.label in ("yes", "no", "_unknown_")]
    rows = ["file,speaker,seconds,text"]
    for i, spk in enumerate(speakers):
        parts = [load_clip(c.path, sample_rate=16000, num_samples=16000)
                 for c in words[4 * i:4 * i + 4]]
        name = f"so/{spk}_nohash_{i}.wav"
        write(root / name, np.concatenate(parts))
        rows.append(f"{name},{spk},4.0,A B C D")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.mark.slow
def test_mining_finds_what_fires_and_resumes(exported, synth_dir, tmp_path, capsys):
    root, _ = exported
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    spk = _speakers("train", 6) + _speakers("test", 2)
    talk = _spoken_talk(tmp_path / "talk", synth_dir, spk)
    out = tmp_path / "hard.json"
    r = mine(run, [talk], out, threshold=0.3, progress=False, save_every=1)
    assert r["sentences"] == 6 and r["windows"] > 0  # the commands said in them fire
    data = json.loads(out.read_text())
    assert {w["speaker"] for w in data["windows"]} <= set(spk[:6])  # train speakers only
    clips = read_hard_negatives(out)
    assert len(clips) == r["windows"] and all(0 <= c.offset <= 3.0 for c in clips)
    # stopped part-way: the sentences heard are kept, the rest are heard on resume
    data["done"], data["windows"] = data["done"][:2], [
        w for w in data["windows"] if w["file"] in data["done"][:2]]
    out.write_text(json.dumps(data))
    again = mine(run, [talk], out, threshold=0.3, progress=False)
    assert again["sentences"] == 6 and again["windows"] == r["windows"]
    # another threshold into the same file is refused (it would mix two minings)
    assert cli(["mine", str(run), "--talk", str(talk), "--out", str(out), "--threshold",
                "0.6"]) == 2
    assert "choose another --out" in capsys.readouterr().err


@pytest.mark.slow
def test_the_live_operating_point_travels_into_the_export(exported, synth_dir, tmp_path,
                                                           capsys):
    from speechgru.export import export_run
    from speechgru.runtime.listener import Listener
    from speechgru.training.operating_point import LIVE_SMOOTHING, LIVE_THRESHOLDS, choose_live

    root, _ = exported
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    assert cli(["operating-point", str(run), "--live"]) == 2  # the run heard no talk
    assert "--talk" in capsys.readouterr().err
    talk = _spoken_talk(tmp_path / "talk", synth_dir, _speakers("validation", 4))
    point = choose_live(run, [talk])
    assert point["threshold"] in LIVE_THRESHOLDS and point["smoothing"] in LIVE_SMOOTHING
    live = point["live"]
    if live["met"]:
        assert live["false_alarms_per_hour_of_talk"] <= 1.0
        assert (live["other_words_accepted"] or 0) <= 0.03
    saved = json.loads((run / "operating_point.json").read_text())
    assert saved["threshold"] == point["threshold"] and "clip_threshold" in saved
    export_run(run, tmp_path / "model", variants=["frontend", "stream_float32"],
               max_clips=10, progress=False)
    lis = Listener(tmp_path / "model")
    assert (lis.threshold, lis.smoothing) == (point["threshold"], point["smoothing"])
