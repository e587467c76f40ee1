import json

import numpy as np
import pytest
from conftest import FSDD, SC_HALF, make_sc, needs_shared, tone, write

from speechgru.cli import main as cli
from speechgru.data.layouts import check_dataset, hash_split, scan_dataset
from speechgru.errors import DataError


def test_speech_commands_layout_labels_noise_and_lists(tmp_path):
    ds = scan_dataset(make_sc(tmp_path, lists=True), words=("yes", "no"))
    assert ds.layout == "speech_commands"
    assert ds.labels == ["_silence_", "_unknown_", "yes", "no"]
    by = {(c.word, c.speaker): c for c in ds.clips}
    assert by[("bird", "aa11")].label == "_unknown_"
    assert by[("yes", "aa11")].split == "validation"
    assert by[("yes", "bb22")].split == "test"
    assert by[("no", "cc33")].split == "train"
    silence = [c for c in ds.clips if c.label == "_silence_"]
    assert len(silence) == 10 and {c.split for c in silence} == {"train", "validation", "test"}


def test_hash_split_is_speaker_disjoint_and_stable(tmp_path):
    speakers = [f"{i:08x}" for i in range(40)]
    ds = scan_dataset(make_sc(tmp_path, speakers=speakers, words=("yes", "no")))
    s = ds.summary()
    assert s["speaker_overlap_between_splits"] == []
    for c in ds.clips:
        if c.label != "_silence_":
            assert c.split == hash_split(c.speaker)  # Speech Commands' own split
    assert {c.split for c in ds.clips} == {"train", "validation", "test"}


def test_list_naming_a_path_outside_the_root_is_rejected(tmp_path):
    root = make_sc(tmp_path / "ds")
    (root / "validation_list.txt").write_text("yes/aa11_nohash_0.wav\n../../etc/passwd\n")
    with pytest.raises(DataError, match=r"validation_list\.txt:2.*outside the dataset root"):
        scan_dataset(root)


def test_a_dataset_of_symlinks_uses_its_lists(tmp_path):
    real = make_sc(tmp_path / "real", speakers=["aa11", "bb22"], words=("yes",))
    view = tmp_path / "view"
    (view / "yes").mkdir(parents=True)
    for f in (real / "yes").glob("*.wav"):
        (view / "yes" / f.name).symlink_to(f)
    (view / "testing_list.txt").write_text("yes/bb22_nohash_0.wav\n")
    splits = {c.path.name: c.split for c in scan_dataset(view).clips}
    assert splits["bb22_nohash_0.wav"] == "test" and splits["aa11_nohash_0.wav"] == "train"
    (view / "testing_list.txt").write_text("yes/../../real/yes/bb22_nohash_0.wav\n")
    with pytest.raises(DataError, match="outside the dataset root"):
        scan_dataset(view)


def test_sc12_layout_reads_unknown_word_and_speaker(tmp_path):
    write(tmp_path / "yes" / "0a1b_nohash_0.wav", tone())
    write(tmp_path / "_unknown_" / "bird_0c54_nohash_1.wav", tone())
    write(tmp_path / "_silence_" / "17.wav", tone(amp=0.01))
    ds = scan_dataset(tmp_path)
    assert ds.layout == "sc12"
    unk = next(c for c in ds.clips if c.label == "_unknown_")
    assert (unk.word, unk.speaker) == ("bird", "0c54")
    assert {c.label for c in ds.clips} == {"yes", "_unknown_", "_silence_"}


def test_flat_layout_from_file_names(tmp_path):
    for spk in ("alice", "bob", "carol"):
        for d in range(3):
            write(tmp_path / "recordings" / f"{d}_{spk}_0.wav", tone(sr=8000), sr=8000)
    (tmp_path / "recordings" / "README.wav").write_bytes(b"x")
    ds = scan_dataset(tmp_path, validation_percent=34, testing_percent=0)
    assert ds.layout == "flat" and ds.labels == ["_silence_", "_unknown_", "0", "1", "2"]
    assert len(ds.clips) == 9
    assert ds.bad and "README.wav" in ds.bad[0][0]
    for spk in ("alice", "bob", "carol"):
        assert len({c.split for c in ds.clips if c.speaker == spk}) == 1


def test_check_data_reports_bad_files_and_strict_fails(tmp_path, capsys):
    root = make_sc(tmp_path)
    (root / "yes" / "ee55_nohash_0.wav").write_bytes(b"RIFF....garbage")
    report = check_dataset(root)
    assert [b["file"] for b in report["bad_files"]] == [str(root / "yes" / "ee55_nohash_0.wav")]
    assert report["per_label"]["yes"] == 4
    with pytest.raises(DataError, match="ee55_nohash_0.wav"):
        check_dataset(root, strict=True)
    assert cli(["check-data", str(root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["bad_files"]) == 1 and out["clips"] == 4 * 3 + 10
    assert cli(["check-data", str(root), "--strict"]) == 2
    assert "ee55_nohash_0.wav" in capsys.readouterr().err


@needs_shared
def test_real_speech_commands_half_counts():
    report = check_dataset(SC_HALF)
    assert report["layout"] == "sc12" and report["clips"] == 2351
    assert report["per_label"]["yes"] == 197 and report["per_label"]["_unknown_"] == 194
    assert report["per_label"]["_silence_"] == 200
    assert report["speakers"] - 200 == 120  # 200 silence clips have no speaker
    assert report["speaker_overlap_between_splits"] == [] and report["bad_files"] == []


@needs_shared
def test_real_fsdd_counts():
    report = check_dataset(FSDD)
    assert report["layout"] == "flat" and report["clips"] == 3000 and report["speakers"] == 6
    assert all(report["per_label"][str(d)] == 300 for d in range(10))
    assert report["per_speaker"]["george"] == 500
    assert report["sample_rates"] == {"8000": 3000}


def test_silence_windows_follow_the_split_percentages(tmp_path):
    from speechgru.data.layouts import _silence_windows

    noise = write(tmp_path / "noise.wav", tone(seconds=40.0, amp=0.01))
    for val, test, want in ((10.0, 10.0, (32, 4, 4)), (20.0, 0.0, (32, 8, 0)),
                            (10.0, 25.0, (26, 4, 10))):
        clips = _silence_windows([noise], 1.0, [], val, test)
        got = tuple(sum(c.split == s for c in clips) for s in ("train", "validation", "test"))
        assert got == want, (val, test, got)


def test_a_folder_of_noise_recordings_becomes_silence_clips_split_by_time(tmp_path):
    """``train --noise DIR``: any recordings (names of no pattern, other sample rates) are
    cut into 1 s ``_silence_`` windows: the start of each for training, then validation,
    the end for test; a folder without audio is one clear error."""
    from speechgru.training.data import plan_splits

    write(tmp_path / "noise" / "doing_the_dishes.wav", tone(20.0))
    write(tmp_path / "noise" / "white_4.wav", tone(10.0, sr=44100), sr=44100)
    ds = scan_dataset(tmp_path / "noise", layout="noise", validation_percent=10,
                      testing_percent=20)
    assert {c.label for c in ds.clips} == {"_silence_"} and len(ds.clips) == 30
    per = {s: [c for c in ds.clips if c.split == s] for s in ("train", "validation", "test")}
    assert [len(v) for v in per.values()] == [21, 3, 6]
    for f in ("doing_the_dishes", "white_4"):
        starts = {s: [c.offset for c in v if c.path.stem == f] for s, v in per.items()}
        assert max(starts["train"]) < min(starts["validation"]) < min(starts["test"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no audio files for --noise"):
        scan_dataset(tmp_path / "empty", layout="noise")
    # in a run's splits beside a dataset
    from speechgru.config import FeatureConfig, ModelConfig, RunConfig, TrainConfig

    make_sc(tmp_path / "sc")
    config = RunConfig(FeatureConfig(), ModelConfig(), TrainConfig(words=("yes", "no")))
    splits, _ = plan_splits([tmp_path / "sc"], config, [tmp_path / "noise"])
    noise = [c for s in splits.values() for c in s if "noise" in c.path.parts]
    assert len(noise) == 30
