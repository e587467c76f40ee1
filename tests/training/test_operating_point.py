"""The operating point set on recordings of other words the run never heard
(``train --threshold-data``, ``speechgru operating-point``)."""

import json
import shutil

import numpy as np
import pytest
from conftest import tone, write

from speechgru.cli import main as cli
from speechgru.config import SILENCE, UNKNOWN, FeatureConfig, ModelConfig, RunConfig, TrainConfig
from speechgru.data.cache import extract_features
from speechgru.data.layouts import scan_dataset
from speechgru.errors import ConfigError, DataError
from speechgru.run_dir import RunDir
from speechgru.training.operating_point import set_again

pytestmark = pytest.mark.slow
TINY = RunConfig(FeatureConfig(), ModelConfig(units=(16,), dropout=0.1),
                 TrainConfig(epochs=2, batch_size=32, seed=5, validation_percent=20.0,
                             testing_percent=0.0))


def _config_file(tmp_path):
    TINY.save(tmp_path / "cfg.json")
    return tmp_path / "cfg.json"

RUN_FILES = ("best.keras", "config.json", "labels.txt", "splits.json", "data.json",
             "metrics.json", "operating_point.json", "calibration.npz", "state.json")


def _copy_run(exported, tmp_path):
    root, _ = exported
    run = tmp_path / "run"
    run.mkdir()
    for name in RUN_FILES:
        shutil.copy(root / "run" / name, run / name)
    return run


def _look_alikes(synth_dir, out, words=("yes", "stop", "no", "go"), per_word=10):
    """Other words that sound like commands: each command's synthetic clips filed under
    a word of their own ("yes" → "yesish"), in a folder speechgru did not write (so read
    as real recordings)."""
    for w in words:
        for f in sorted((synth_dir / w).glob("*.wav"))[:per_word]:
            dst = out / f"{w}ish" / f.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, dst)
    return out


def test_other_words_that_sound_like_commands_raise_the_threshold(exported, synth_dir,
                                                                  tmp_path, capsys):
    run = _copy_run(exported, tmp_path)
    cache = tmp_path / "cache"
    hard = _look_alikes(synth_dir, tmp_path / "hard")
    before = set_again(run, [], cache_dir=cache)
    assert "threshold_data" not in before and before["chosen_on"].startswith("validation:")

    assert cli(["operating-point", str(run), "--threshold-data", str(hard), "--json",
                "--cache-dir", str(cache)]) == 0
    point = json.loads(capsys.readouterr().out)
    assert point["threshold_data"]["clips"] == 40
    assert point["chosen_on"].startswith("validation and hard: 40 real recordings")
    assert point["threshold"] > before["threshold"]
    # written where export, predict and evaluate read it, and remembered for the next time
    assert RunDir(run).operating_point() == point
    assert json.loads((run / "metrics.json").read_text())["operating_point"] == point
    assert RunDir(run).data()["threshold_data"] == [str(hard)]

    # an independent count: the look-alikes' share taken for a command, each word weighing
    # the same, is within the target at the threshold and above it one step lower (the
    # validation clips are synthetic: with 40 real other words the threshold rests on them)
    config, labels, model = RunDir(run).load()
    feats = extract_features(scan_dataset(hard, words=config.train.words).clips,
                             config.features, cache_dir=cache, progress=False)
    probs = model.predict(feats.x, verbose=0)
    commands = [i for i, k in enumerate(labels) if k not in (SILENCE, UNKNOWN)]
    words = np.array([c.word for c in feats.clips])

    def share(t):
        taken = (probs.max(1) >= t) & np.isin(probs.argmax(1), commands)
        return np.mean([taken[words == w].mean() for w in np.unique(words)])

    t = point["threshold"]
    if point["reached"]:
        assert share(t) <= 0.03 < share(round(t - 0.01, 2))
    else:
        assert t == 0.99 and share(t) > 0.03

    # the same folders again by default; --no-threshold-data goes back to validation alone
    assert cli(["operating-point", str(run), "--json", "--cache-dir", str(cache)]) == 0
    assert json.loads(capsys.readouterr().out)["threshold"] == t
    assert cli(["operating-point", str(run), "--no-threshold-data", "--json",
                "--cache-dir", str(cache)]) == 0
    assert json.loads(capsys.readouterr().out)["threshold"] == before["threshold"]
    assert RunDir(run).data()["threshold_data"] == []


def test_threshold_data_the_run_heard_or_cannot_read_is_refused(exported, synth_dir,
                                                                tmp_path, capsys):
    run = _copy_run(exported, tmp_path)
    kept = [(run / f).read_bytes() for f in ("operating_point.json", "data.json")]
    with pytest.raises(ConfigError, match="also training data"):
        set_again(run, [synth_dir / "yes"], cache_dir=tmp_path / "cache")
    with pytest.raises(DataError, match="not a folder of recordings"):
        set_again(run, [tmp_path / "nowhere"], cache_dir=tmp_path / "cache")
    write(tmp_path / "quiet" / "_silence_" / "1.wav", tone(amp=0.001))  # no word in it
    with pytest.raises(DataError, match="no spoken clip"):
        set_again(run, [tmp_path / "quiet"], cache_dir=tmp_path / "cache")
    # the command line: one line naming the folder, exit 2, nothing already done lost
    assert cli(["operating-point", str(run), "--threshold-data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere" in err[0]
    assert [(run / f).read_bytes() for f in ("operating_point.json", "data.json")] == kept
    assert cli(["operating-point", str(run), "--threshold-data", str(tmp_path / "quiet"),
                "--no-threshold-data"]) == 2
    (run / "data.json").write_text('{"sources": "not a list"}')
    assert cli(["operating-point", str(run)]) == 2
    assert "data.json: damaged" in capsys.readouterr().err
    assert (run / "operating_point.json").read_bytes() == kept[0]


def test_train_sets_the_threshold_on_its_threshold_data(synth_dir, tmp_path, capsys):
    hard = _look_alikes(synth_dir, tmp_path / "hard")
    out = tmp_path / "run"
    assert cli(["train", "--data", str(synth_dir), "--out", str(out), "--threshold-data",
                str(hard), "--config", str(_config_file(tmp_path)),
                "--cache-dir", str(tmp_path / "cache")]) == 0
    printed = capsys.readouterr().out
    assert "chosen on validation and hard: 40 real recordings" in printed
    point = RunDir(out).operating_point()
    # the point travels into exports: folder names, no path of this machine
    assert point["threshold_data"] == {"folders": ["hard"], "clips": 40, "bad_files": 0}
    assert RunDir(out).data()["threshold_data"] == [str(hard)]
    # resume keeps the folders the run started with, and says at once when one is gone
    assert cli(["train", "--resume", "--out", str(out), "--threshold-data", str(hard)]) == 2
    assert "speechgru operating-point" in capsys.readouterr().err
    hard.rename(tmp_path / "moved")
    kept = (out / "best.keras").read_bytes()
    assert cli(["train", "--resume", "--out", str(out)]) == 2
    assert f"{hard}: not a folder of recordings" in capsys.readouterr().err
    assert (out / "best.keras").read_bytes() == kept
    # training data is never threshold data
    assert cli(["train", "--data", str(synth_dir), "--out", str(tmp_path / "r2"),
                "--threshold-data", str(synth_dir), "--config",
                str(_config_file(tmp_path))]) == 2
    assert "also training data" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists()
