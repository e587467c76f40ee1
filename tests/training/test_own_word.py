"""A word of one's own without recordings: the words refused, the synthetic sets it is
trained on, the base it starts from (weights carried exactly), and the command line's
one-line refusals that write nothing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import EXPORT_CFG

from speechgru.cli import main as cli
from speechgru.config import TrainConfig
from speechgru.errors import ConfigError
from speechgru.training.own_word import check_words, own_word_config


@pytest.mark.parametrize("words, needle", [
    (("a_b_c_d_e_f_g_h_i_j_k_l_m_n_o_p_q_r_s_t",), "a phrase of 20 words"),
    (("lights_on", "lights-on"), "said as"),
    (("123",), "nothing to pronounce"),
])
def test_words_that_cannot_be_a_word_of_ones_own_are_refused(words, needle):
    with pytest.raises(ConfigError, match=needle):
        check_words(words)
    check_words(("alexa", "lights_on", "robot-one"))  # fine


def test_own_word_recipe_takes_the_bases_model_and_keeps_the_users_settings(exported):
    root, _ = exported
    base = root / "run"
    cfg = own_word_config(("alexa",), base=base, kokoro=False, seed=3)
    assert cfg.model == EXPORT_CFG.model and cfg.features == EXPORT_CFG.features
    assert cfg.train.words == ("alexa",) and cfg.train.base == str(base.absolute())
    assert cfg.train.kokoro_per_word == 0 and cfg.train.seed == 3
    mine = dataclasses.replace(EXPORT_CFG, train=TrainConfig(batch_size=16))
    cfg = own_word_config(("alexa",), base=None, kokoro=True, config=mine, epochs=5)
    assert cfg.train.batch_size == 16 and cfg.train.epochs == 5 and cfg.train.base == ""
    assert cfg.train.kokoro_per_word > 0
    with pytest.raises(ConfigError, match="real recordings"):
        own_word_config(("yes",), base=None, kokoro=True)


def test_without_recordings_the_synthetic_sets_are_the_data(tmp_path):
    """No data: espeak's set of the word (its takes, the usual other words, the near-misses
    of how it is said) is the run's data; ``say`` changes what is said, not the folder."""
    from speechgru.data import scan_dataset
    from speechgru.training.data import with_recipe_synth

    cfg = dataclasses.replace(EXPORT_CFG, train=dataclasses.replace(
        EXPORT_CFG.train, words=("alexa",), synth_per_word=3, say=("alexa=uh lex uh",)))
    dirs = with_recipe_synth([], cfg, log=lambda *_: None)
    assert len(dirs) == 1
    folders = {p.name for p in dirs[0].iterdir() if p.is_dir()}
    assert {"alexa", "uh_lex", "lex", "bird"} <= folders  # near-misses of "uh lex uh"
    ds = scan_dataset(dirs[0], words=("alexa",))
    assert sum(c.label == "alexa" for c in ds.clips) == 3


def test_a_run_from_a_base_starts_from_its_weights(exported, synth_dir, tmp_path):
    """Every layer but the output is the base's, bit for bit; of the output, the columns of
    the labels both know; the input normalisation is the base's. Then it trains as a run."""
    from speechgru.models import Mode, build_model
    from speechgru.models.build import normalization_stats
    from speechgru.run_dir import RunDir
    from speechgru.training.base import load_base, start_from
    from speechgru.training.train import train

    root, _ = exported
    base_labels, src = load_base(root / "run")
    labels = ["_silence_", "_unknown_", "bird"]
    F = EXPORT_CFG.features
    mean, var = normalization_stats(src)
    model = build_model(EXPORT_CFG.model, Mode.TRAINING, num_frames=F.num_frames,
                        num_features=F.num_features, num_classes=3, mean=mean, variance=var)
    fresh = [np.array(w) for w in model.get_layer("probabilities").get_weights()]
    info = start_from(model, src, base_labels, labels)
    assert info["labels_carried"] == ["_silence_", "_unknown_"]
    for layer in model.layers:
        if layer.weights and layer.name != "probabilities":
            for a, b in zip(layer.get_weights(), src.get_layer(layer.name).get_weights(),
                            strict=True):
                np.testing.assert_array_equal(a, b)
    kernel, bias = model.get_layer("probabilities").get_weights()
    bk, bb = src.get_layer("probabilities").get_weights()
    np.testing.assert_array_equal(kernel[:, :2], bk[:, :2])
    np.testing.assert_array_equal(bias[:2], bb[:2])
    np.testing.assert_array_equal(kernel[:, 2], fresh[0][:, 2])  # a new word: its own start

    cfg = dataclasses.replace(EXPORT_CFG, train=dataclasses.replace(
        EXPORT_CFG.train, words=("yes",), epochs=1, base=str(root / "run"),
        synth_per_word=0, base_freeze=1))
    run = tmp_path / "yes"
    train([synth_dir], run, cfg, cache_dir=tmp_path / "cache", verbose=0)
    _, got_labels, trained = RunDir(run).load()
    assert got_labels == ["_silence_", "_unknown_", "yes"]
    assert RunDir(run).config().train.base == str(root / "run")
    for a, b in zip(normalization_stats(trained), (mean, var), strict=True):
        np.testing.assert_array_equal(a, b)
    # base_freeze 1: its GRU is the base's after training; the output learned
    for a, b in zip(trained.get_layer("gru_0").get_weights(),
                    src.get_layer("gru_0").get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(trained.get_layer("probabilities").get_weights()[0],
                              src.get_layer("probabilities").get_weights()[0][:, :3])
    bad = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, units=(16,)))
    with pytest.raises(ConfigError, match="model section differs"):
        train([synth_dir], tmp_path / "other", bad, cache_dir=tmp_path / "cache", verbose=0)
    assert not (tmp_path / "other").exists()


def _one_line(capsys, *argv):
    capsys.readouterr()
    rc = cli([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_command_line_refusals_write_nothing(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    monkeypatch.setenv("SPEECHGRU_KOKORO_MODEL", str(tmp_path / "no-kokoro.onnx"))
    line = _one_line(capsys, "train", "--words", "alexa", "--out", out)
    assert "Kokoro" in line and "--talk DIR" in line and "--data DIR" in line
    phrase = "_".join(["word"] * 20)
    assert "phrase of 20 words" in _one_line(capsys, "train", "--words", phrase, "--out", out)
    assert "said as" in _one_line(capsys, "train", "--words", "lights_on,lights-on",
                                  "--out", out)
    assert "real recordings" in _one_line(capsys, "train", "--words", "yes", "--out", out)
    assert "--words" in _one_line(capsys, "train", "--words", " , ", "--out", out)
    assert "say" in _one_line(capsys, "train", "--words", "alexa", "--say", "alexa=",
                              "--talk", tmp_path, "--out", out)
    assert "not a base" in _one_line(capsys, "train", "--words", "alexa", "--base",
                                     tmp_path / "nothing", "--talk", tmp_path, "--out", out)
    empty = tmp_path / "empty"
    empty.mkdir()
    line = _one_line(capsys, "train", "--words", "alexa", "--data", empty, "--out", out)
    assert str(empty) in line and "no audio" in line
    assert not out.exists()


@pytest.mark.slow
def test_a_word_of_ones_own_from_the_command_line(synth_dir, tmp_path, capsys, monkeypatch):
    """``train --words alexa`` with no recordings (Kokoro absent: espeak's takes; talk given):
    from the box's base, its threshold chosen live on takes in synthetic voices, exported."""
    import json

    from test_talk_training import _speakers, _spoken_talk

    from speechgru.run_dir import RunDir
    from speechgru.runtime.manifest import Manifest
    from speechgru.training.base import BOX_BASE

    monkeypatch.setenv("SPEECHGRU_KOKORO_MODEL", str(tmp_path / "no-kokoro.onnx"))
    talk = _spoken_talk(tmp_path / "talk", synth_dir,
                        _speakers("train", 2) + _speakers("validation", 2))
    cfg = tmp_path / "small.json"
    cfg.write_text(json.dumps({"train": {"synth_per_word": 40, "batch_size": 16,
                                         "validation_percent": 30, "testing_percent": 0}}))
    run = tmp_path / "alexa"
    capsys.readouterr()
    assert cli(["train", "--words", "alexa", "--talk", str(talk), "--config", str(cfg),
                "--epochs", "1", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "a word of your own: alexa in espeak-ng's voices" in out and "without Kokoro" in out
    assert "takes of the words (synthetic voices)" in out
    config = RunDir(run).config()
    assert config.train.base == str(BOX_BASE) and config.train.synth_per_word == 40
    assert RunDir(run).labels() == ["_silence_", "_unknown_", "alexa"]
    point = RunDir(run).operating_point()
    assert point["live"]["synthetic_commands"] == 1.0
    assert cli(["export", str(run), "--out", str(tmp_path / "model"), "--variants",
                "float32,frontend,stream_float32"]) == 0
    assert Manifest(tmp_path / "model").data["labels"][-1] == "alexa"
