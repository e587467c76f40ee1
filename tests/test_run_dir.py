"""RunDir: the run's saved split is read back exactly, and checked against the files."""

import json

import numpy as np
import pytest
from conftest import tone, write

from speechgru.data import Clip
from speechgru.errors import ConfigError, DataError
from speechgru.run_dir import RunDir


def _clips(tmp_path):
    out = {}
    for name, speakers in (("train", ("a1", "a2")), ("validation", ("b1",)), ("test", ("c1",))):
        out[name] = []
        for i, spk in enumerate(speakers):
            path = write(tmp_path / "data" / "yes" / f"{spk}_nohash_0.wav",
                         tone(freq=300 + 40 * i, seed=i))
            out[name].append(Clip(path, "yes", "yes", spk, name))
    return out


def test_splits_round_trip_with_hashes(tmp_path):
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    clips = _clips(tmp_path)
    run.save_splits(clips)
    data = json.loads((run / "splits.json").read_text())
    assert len(data["train"]) == 2 and len(data["test"]) == 1
    assert all(len(r["sha256"]) == 64 for r in data["train"])
    back = run.splits()
    for name in clips:
        assert [(c.path.absolute(), c.speaker, c.split) for c in back[name]] == \
            [(c.path.absolute(), c.speaker, name) for c in clips[name]]
    assert run.split("test")[0].speaker == "c1"


def test_a_split_clip_that_changed_or_vanished_is_named(tmp_path):
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    clips = _clips(tmp_path)
    run.save_splits(clips)
    target = clips["validation"][0].path
    write(target, tone(freq=999.0))
    with pytest.raises(DataError, match="changed since") as exc:
        run.split("validation")
    assert target.name in str(exc.value)
    assert run.split("validation", check=False)  # readable without the check
    target.unlink()
    with pytest.raises(DataError, match="missing"):
        run.split("validation")
    with pytest.raises(ConfigError, match="split must be one of"):
        run.split("holdout")


def test_calibration_is_validated(tmp_path):
    run = RunDir(tmp_path)
    with pytest.raises(ConfigError, match="no calibration.npz"):
        run.calibration()
    good = {"val_pcm": np.zeros((2, 16)), "val_x": np.zeros((2, 3, 4)),
            "val_y": np.zeros(2), "train_x": np.zeros((2, 3, 4))}
    run.save_calibration(**good)
    assert set(run.calibration()) == set(good)
    run.save_calibration(**{**good, "val_x": np.full((2, 3, 4), np.nan)})
    with pytest.raises(ConfigError, match="val_x"):
        run.calibration()
