"""The distillation teacher: out-of-fold soft labels never come from a regression that saw
the clip's speaker; on real unheard speakers the frozen embedding recognises the commands;
training mixes the soft labels into the targets as configured."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conftest import SC_HALF, needs_shared

from speechgru.config import SILENCE, UNKNOWN, FeatureConfig, ModelConfig, RunConfig, TrainConfig
from speechgru.errors import ConfigError
from speechgru.training.teacher import out_of_fold

needs_teacher = pytest.mark.skipif(importlib.util.find_spec("pyopen_wakeword") is None,
                                   reason="the teacher is not installed (speechgru[distill])")


def _speakers(rng, n_speakers, per, dim, shared_signal):
    """Rows of ``n_speakers`` speakers, one label each; a row is its speaker's own random
    point (+ its label's direction when ``shared_signal``) + noise."""
    x, y, spk = [], [], []
    label_dir = rng.normal(0, 8, (4, dim))
    for s in range(n_speakers):
        label = s % 4
        centre = rng.normal(0, 3, dim) + (label_dir[label] if shared_signal else 0)
        x.append(centre + rng.normal(0, 0.3, (per, dim)))
        y += [label] * per
        spk += [f"spk{s}"] * per
    return np.concatenate(x).astype(np.float32), np.array(y), spk


def test_out_of_fold_labels_never_come_from_the_clips_own_speaker():
    rng = np.random.default_rng(0)
    # each speaker's rows are identifiable, but carry nothing that carries over to others:
    # a regression that saw the speaker would be right, one that did not is at chance
    x, y, spk = _speakers(rng, 40, 10, 16, shared_signal=False)
    p = out_of_fold(x, y, spk, 4)
    assert p.shape == (400, 4) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert (p.argmax(axis=1) == y).mean() < 0.45
    # with a label signal shared by speakers, the same procedure learns it
    x, y, spk = _speakers(rng, 40, 10, 16, shared_signal=True)
    assert (out_of_fold(x, y, spk, 4).argmax(axis=1) == y).mean() > 0.9


def test_distill_is_checked_and_mixes_the_targets(monkeypatch):
    from speechgru.training.data import Prepared
    from speechgru.training.sampling import _train_dataset

    with pytest.raises(ValueError, match="distill"):
        TrainConfig(distill=1.5)
    labels = [SILENCE, UNKNOWN, "yes", "no"]
    n, T, F = 64, FeatureConfig().num_frames, FeatureConfig().num_features
    y = np.repeat(np.arange(4), n // 4)
    teacher = np.full((n, 4), 0.25, np.float32)
    prep = Prepared(labels, np.zeros((n, T, F), np.float32), y,
                              np.zeros((4, T, F), np.float32), np.arange(4), np.zeros((1, T, F)),
                              [], [], [], teacher=teacher)
    config = RunConfig(FeatureConfig(), ModelConfig(),
                       TrainConfig(words=("yes", "no"), batch_size=16, epochs=1, augment=False,
                                   distill=0.4))
    x, target = next(iter(_train_dataset(prep, config, 0, 1)))
    target = target.numpy()
    assert np.allclose(target.sum(axis=1), 1)
    assert np.allclose(target.max(axis=1), 0.6 + 0.4 * 0.25)
    assert np.allclose(np.sort(target, axis=1)[:, 0], 0.4 * 0.25)


@needs_shared
@needs_teacher
def test_the_teacher_recognises_speakers_it_never_heard(tmp_path):
    """The frozen embedding + a regression on other speakers: well above the 8 % of chance
    on real commands (the same regression on the recipe's GRU features would not be a
    teacher)."""
    from speechgru.data.layouts import scan_dataset
    from speechgru.training.teacher import embeddings

    ds = scan_dataset(SC_HALF, validation_percent=0, testing_percent=0)
    rng = np.random.default_rng(0)
    clips = [ds.select("train")[i] for i in rng.permutation(len(ds.select("train")))[:500]]
    labels = [SILENCE, UNKNOWN, "yes", "no", "up", "down", "left", "right", "on", "off",
              "stop", "go"]
    emb = embeddings(clips, tmp_path, log=lambda *_: None)
    assert emb.shape == (500, 192) and np.all(np.isfinite(emb))
    again = embeddings(clips[:5], tmp_path, log=lambda *_: pytest.fail("not cached"))
    assert np.array_equal(again, emb[:5])
    y = np.array([labels.index(c.label) for c in clips])
    p = out_of_fold(emb, y, [c.speaker for c in clips], len(labels))
    assert (p.argmax(axis=1) == y).mean() > 0.75


def test_a_missing_teacher_is_one_clear_error_before_any_work(monkeypatch, tmp_path, synth_dir):
    import sys

    from speechgru.training.train import train

    monkeypatch.setitem(sys.modules, "pyopen_wakeword", None)  # as if not installed
    config = RunConfig(FeatureConfig(), ModelConfig(), TrainConfig(distill=0.5))
    with pytest.raises(ConfigError, match=r"speechgru\[distill\]"):
        train([synth_dir], tmp_path / "run", config, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


# ---------------------------------------------------------------------- a run as the teacher
def test_a_run_teaches_on_each_augmented_batch(exported):
    """train.teacher_run: each batch's targets are (1 - distill) * one-hot + distill * the
    teacher's probabilities on that very batch as augmented (not on the clean clips)."""
    from speechgru.config import COMMANDS
    from speechgru.run_dir import RunDir
    from speechgru.training.data import Prepared
    from speechgru.training.sampling import _train_dataset

    root, _ = exported
    teacher = RunDir(root / "run").load_model("best")
    labels = [SILENCE, UNKNOWN, *COMMANDS]
    rng = np.random.default_rng(0)
    n, T, F = 48, FeatureConfig().num_frames, FeatureConfig().num_features
    x = RunDir(root / "run").calibration()["train_x"][:n].astype(np.float32)
    y = np.arange(n) % len(labels)
    prep = Prepared(labels, x, y, x[:4], y[:4], x[:8] + rng.normal(0, 1, (8, T, F)),
                              [], [], [])
    config = RunConfig(FeatureConfig(), ModelConfig(),
                       TrainConfig(batch_size=16, epochs=1, distill=0.3,
                                   teacher_run=str(root / "run")))
    batches = list(_train_dataset(prep, config, 0, 3, teacher=teacher))
    assert len(batches) == 3
    for xb, target in batches:
        xb, target = xb.numpy(), target.numpy()
        soft = np.asarray(teacher(xb, training=False))
        hard = (target - 0.3 * soft) / 0.7
        assert np.allclose(hard.sum(axis=1), 1, atol=1e-5)
        assert np.allclose(hard, np.eye(len(labels))[hard.argmax(axis=1)], atol=1e-5)
        assert soft.std(axis=0).max() > 1e-3  # the teacher's answers vary with the batch
    # the batch is augmented before the teacher reads it: not the clean rows
    assert not any(np.allclose(batches[0][0].numpy()[0], row, atol=1e-3) for row in x)


def test_a_teacher_run_is_checked_before_any_work(exported, synth_dir, tmp_path, monkeypatch,
                                                  capsys):
    """A teacher that learnt from the clips this run is judged on, with other labels or
    other features, is refused with one line naming it — before the run exists."""
    from speechgru.training.teacher import run_teacher
    from speechgru.training.train import train

    root, _ = exported
    teacher = root / "run"
    with pytest.raises(ValueError, match="teacher_run"):
        TrainConfig(teacher_run=str(teacher))  # distill 0: the teacher would weigh nothing
    base = dict(epochs=1, batch_size=32, distill=0.5, teacher_run=str(teacher))
    cases = [
        (RunConfig(FeatureConfig(), ModelConfig(units=(16,)),
                   TrainConfig(**base, validation_percent=40.0, testing_percent=0.0)),
         "in its train split and in this run's validation split"),
        (RunConfig(FeatureConfig(), ModelConfig(units=(16,)),
                   TrainConfig(**base, words=("yes", "no"), validation_percent=20.0,
                               testing_percent=0.0)), "its labels"),
        (RunConfig(FeatureConfig(n_mfcc=20), ModelConfig(units=(16,)),
                   TrainConfig(**base, validation_percent=20.0, testing_percent=0.0)),
         "feature settings"),
    ]
    for config, reason in cases:
        with pytest.raises(ConfigError, match=reason) as err:
            train([synth_dir], tmp_path / "run", config, cache_dir=tmp_path / "cache",
                  verbose=0)
        assert str(teacher) in str(err.value)
        assert not (tmp_path / "run").exists()
    # a teacher that is not a run: one line from the CLI, naming it, exit 2
    import json

    from speechgru.cli import main

    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"train": {"distill": 0.5, "teacher_run": str(tmp_path / "no")}}))
    assert main(["train", "--data", str(synth_dir), "--config", str(cfg),
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.teacher_run" in err[0] and str(tmp_path / "no") in err[0]
    assert not (tmp_path / "run").exists()
    # the same split (data and percentages as the teacher's): accepted
    from speechgru.run_dir import RunDir

    splits = RunDir(teacher).splits()
    assert run_teacher(teacher, RunDir(teacher).config(), splits)
    # and a run trains with it, end to end; the run's config names the teacher by its
    # absolute path, so --resume finds it from anywhere
    monkeypatch.chdir(teacher.parent)
    config = RunConfig(FeatureConfig(), ModelConfig(units=(16,)),
                       TrainConfig(**{**base, "epochs": 2, "teacher_run": teacher.name},
                                   validation_percent=20.0, testing_percent=0.0))
    m = train([synth_dir], tmp_path / "run", config, cache_dir=tmp_path / "cache", verbose=0)
    assert RunDir(tmp_path / "run").config().train.teacher_run == str(teacher.absolute())
    monkeypatch.chdir(tmp_path)
    again = train(None, tmp_path / "run", resume=True, cache_dir=tmp_path / "cache", verbose=0)
    assert again["accuracy"] == m["accuracy"]
