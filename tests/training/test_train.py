"""Training, evaluation and resume-after-kill, on the small synthetic set."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import tone, write

from speechgru.cli import main as cli
from speechgru.config import FeatureConfig, ModelConfig, RunConfig, TrainConfig
from speechgru.errors import ConfigError, DataError
from speechgru.training.sampling import epoch_indices
from speechgru.training.train import train

pytestmark = pytest.mark.slow
# a model that learns in seconds: the recipe's room/speed/gain augmentation is for real
# voices and would hide, in 4 epochs, whether anything is learnt at all
TINY = RunConfig(FeatureConfig(), ModelConfig(units=(16,), dropout=0.1),
                 TrainConfig(epochs=4, batch_size=32, seed=5, validation_percent=20.0,
                             testing_percent=0.0, speed=0.0, reverb_prob=0.0, gain_db=0.0,
                             eq_db=0.0))


def _config_file(tmp_path, config=TINY) -> Path:
    p = tmp_path / "cfg.json"
    config.save(p)
    return p


@pytest.fixture(scope="module")
def trained(synth_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    cache = tmp_path_factory.mktemp("cache")
    m = train([synth_dir], out, TINY, cache_dir=cache, verbose=0)
    return out, m, cache


def test_run_directory_holds_everything(trained):
    out, m, _ = trained
    for name in ("config.json", "labels.txt", "best.keras", "last.keras", "history.csv",
                 "metrics.json", "curves.png", "confusion.png", "state.json", "logs"):
        assert (out / name).exists(), name
    assert RunConfig.load(out / "config.json") == TINY
    assert (out / "labels.txt").read_text().split()[:3] == ["_silence_", "_unknown_", "yes"]
    rows = (out / "history.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 and rows[0].startswith("epoch,")
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["accuracy"] == m["accuracy"] and 0 <= m["accuracy"] <= 1
    assert len(saved["confusion"]) == 12 and saved["false_accept_rate"] is not None
    model = keras.models.load_model(out / "best.keras", safe_mode=True)
    assert model.output_shape == (None, 12)


def test_training_learns_something(trained, exported):
    _, m, _ = trained
    history = json.loads((trained[0] / "state.json").read_text())["history"]
    assert history[-1]["loss"] < history[0]["loss"]
    # the fixture model (trained ~20 s) on its validation speakers, class-balanced: a
    # constant predictor scores 1/12 whatever the class it picks (test_evaluate.py)
    root, _ = exported
    saved = json.loads((root / "run" / "metrics.json").read_text())
    recalls = [v["recall"] for v in saved["per_class"].values() if v["recall"] is not None]
    assert len(recalls) == 12 and np.mean(recalls) >= 0.3


def test_existing_run_is_not_overwritten(trained, synth_dir):
    out, _, cache = trained
    before = (out / "best.keras").read_bytes()
    with pytest.raises(ConfigError, match="already holds a run"):
        train([synth_dir], out, TINY, cache_dir=cache, verbose=0)
    assert (out / "best.keras").read_bytes() == before


def test_evaluate_on_the_three_layouts(trained, synth_dir, tmp_path, capsys):
    out, _, cache = trained
    assert cli(["evaluate", str(out), "--data", str(synth_dir), "--json",
                "--cache-dir", str(cache)]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["clips"] > 100 and set(m["per_class"]) == set(m["labels"])
    # sc12 layout holding only some labels
    write(tmp_path / "sc12" / "yes" / "ab12_nohash_0.wav", tone())
    write(tmp_path / "sc12" / "_unknown_" / "bird_ab12_nohash_0.wav", tone(freq=300))
    write(tmp_path / "sc12" / "_silence_" / "1.wav", tone(amp=0.001))
    assert cli(["evaluate", str(out), "--data", str(tmp_path / "sc12"), "--json",
                "--cache-dir", str(cache)]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["clips"] == 3 and m["per_class"]["no"]["support"] == 0
    # flat layout, 8 kHz files named {label}_{speaker}_{index}
    for w in ("yes", "stop"):
        write(tmp_path / "flat" / f"{w}_bob_0.wav", tone(sr=8000), sr=8000)
    assert cli(["evaluate", str(out), "--data", str(tmp_path / "flat"), "--json",
                "--cache-dir", str(cache)]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["clips"] == 2 and (out / "eval" / "flat.json").exists()


def test_bad_config_and_data_errors(synth_dir, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": {"units": [16], "pooling": "max"}}))
    assert cli(["train", "--data", str(synth_dir), "--out", str(tmp_path / "r"),
                "--config", str(bad)]) == 2
    assert "pooling" in capsys.readouterr().err
    bad.write_text(json.dumps({"trian": {}}))
    assert cli(["train", "--data", str(synth_dir), "--out", str(tmp_path / "r"),
                "--config", str(bad)]) == 2
    assert "trian" in capsys.readouterr().err
    cfg = RunConfig(TINY.features, TINY.model,
                    TrainConfig(epochs=1, words=("yes", "banana")))
    with pytest.raises(DataError, match="banana"):
        train([synth_dir], tmp_path / "r2", cfg, cache_dir=None, verbose=0)
    with pytest.raises(ConfigError, match="nothing to resume"):
        train([synth_dir], tmp_path / "r3", resume=True, verbose=0)
    with pytest.raises(DataError, match="not a directory"):
        train([tmp_path / "nope"], tmp_path / "r4", TINY, verbose=0)


def test_epochs_are_balanced_and_a_function_of_seed_and_epoch():
    labels = ["_silence_", "_unknown_", "yes", "no"]
    y = np.array([0] * 5 + [1] * 100 + [2] * 20 + [3] * 20)
    a = epoch_indices(y, labels, TINY, 3)
    np.testing.assert_array_equal(a, epoch_indices(y, labels, TINY, 3))
    assert not np.array_equal(a, epoch_indices(y, labels, TINY, 4))
    counts = np.bincount(y[a], minlength=4)
    assert counts[2] == counts[3] == 20
    assert counts[0] == round(TINY.train.silence_ratio * 20)
    assert counts[1] == round(TINY.train.unknown_ratio * 20)


def test_real_voices_get_their_share_of_the_unknown_clips():
    import dataclasses

    labels = ["_silence_", "_unknown_", "yes", "no"]
    y = np.array([0] * 5 + [1] * 100 + [2] * 20 + [3] * 20)
    real = np.zeros(len(y), bool)
    real[5:9] = True  # 4 real unknown clips among 100
    def share(v):
        return dataclasses.replace(TINY, train=dataclasses.replace(TINY.train,
                                                                   real_unknown_share=v))

    want = round(TINY.train.unknown_ratio * 20)
    as_they_fall = epoch_indices(y, labels, share(0.0), 3, real)
    shared = epoch_indices(y, labels, share(0.5), 3, real)
    for a in (as_they_fall, shared):
        assert (y[a] == 1).sum() == want
    assert real[as_they_fall].sum() < 0.2 * want  # 4 % of the pool: 2.4 draws expected
    assert real[shared].sum() == round(0.5 * want)  # the few real clips drawn again


def test_unknown_clips_drawn_word_by_word():
    import dataclasses

    labels = ["_silence_", "_unknown_", "yes", "no"]
    y = np.array([0] * 5 + [1] * 100 + [2] * 20 + [3] * 20)
    words = np.array(["_silence_"] * 5 + ["bed"] * 90 + ["wow", "dog", "tree"] * 3 + ["one"]
                     + ["yes"] * 20 + ["no"] * 20, object)
    by_word = dataclasses.replace(TINY, train=dataclasses.replace(
        TINY.train, unknown_by_word=True, real_unknown_share=0.0))
    want = round(TINY.train.unknown_ratio * 20)
    draws = np.concatenate([epoch_indices(y, labels, by_word, e, None, words)
                            for e in range(40)])
    unk = draws[y[draws] == 1]
    assert len(unk) == 40 * want and np.bincount(y[draws])[2] == 40 * 20
    share = {w: np.mean(words[unk] == w) for w in ("bed", "wow", "dog", "tree", "one")}
    for w, got in share.items():  # 5 words, a fifth each (bed is 90 % of the clips)
        assert abs(got - 0.2) < 0.05, (w, got)
    # off (the default), clips are drawn as they fall: bed is most of them
    plain = np.concatenate([epoch_indices(y, labels, TINY, e, None, words) for e in range(40)])
    assert np.mean(words[plain[y[plain] == 1]] == "bed") > 0.8
    np.testing.assert_array_equal(epoch_indices(y, labels, by_word, 3, None, words),
                                  epoch_indices(y, labels, by_word, 3, None, words))


def test_reversed_real_commands_join_the_unknown_class(synth_dir, tmp_path):
    import dataclasses

    from conftest import make_sc

    from speechgru.training.data import plan_splits, prepare

    real = make_sc(tmp_path / "real", words=("yes", "no", "bird"))
    cfg = dataclasses.replace(TINY, train=dataclasses.replace(
        TINY.train, words=("yes", "no"), reversed_negatives=True))
    splits, _ = plan_splits([real, synth_dir], cfg)
    prep = prepare(splits, cfg, cache_dir=None, progress=False)
    clips = prep.train_clips
    assert prep.real[:len(clips)].tolist() == [c.path.is_relative_to(real) for c in clips]
    commands = [i for i, c in enumerate(clips) if prep.real[i] and c.label in ("yes", "no")]
    rev = np.arange(len(prep.x_train) - len(commands), len(prep.x_train))
    assert len(commands) and prep.real[rev].all() and (prep.y_train[rev] == 1).all()
    np.testing.assert_array_equal(prep.x_train[rev], prep.x_train[commands][:, ::-1])
    # what each row says (train.unknown_by_word draws by it), the reversed ones apart
    assert prep.words.tolist() == [c.word for c in clips] + \
        [f"{clips[i].word} reversed" for i in commands]


def test_resume_after_sigkill_ends_as_an_uninterrupted_run(synth_dir, trained, tmp_path):
    _, _, cache = trained
    cfg = _config_file(tmp_path)
    base = [sys.executable, "-m", "speechgru", "train", "--data", str(synth_dir),
            "--config", str(cfg), "--cache-dir", str(cache)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    killed = tmp_path / "killed"
    proc = subprocess.Popen(base + ["--out", str(killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    state = killed / "state.json"
    while time.time() < deadline:
        if state.exists() and json.loads(state.read_text())["epoch"] >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.loads(state.read_text())["epoch"]
    assert 2 <= done < 4, "the run must be killed mid-way for this test to mean anything"
    subprocess.run(base + ["--out", str(killed), "--resume"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    whole = tmp_path / "whole"
    subprocess.run(base + ["--out", str(whole)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    a = keras.models.load_model(killed / "last.keras", safe_mode=True)
    b = keras.models.load_model(whole / "last.keras", safe_mode=True)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, atol=1e-5)
    ha = (killed / "history.csv").read_text().splitlines()
    hb = (whole / "history.csv").read_text().splitlines()
    assert len(ha) == len(hb) == 5


def test_neighbouring_words_enter_the_edges_of_a_clip_and_nothing_else():
    """``train.neighbours``: each edge of a clip may take the loud part of another clip (a
    contiguous run of its frames around its loudest one), up to 300 ms; the rest of the
    clip is untouched; the same generator state gives the same windows."""
    from speechgru.training.sampling import NEIGHBOUR_FRAMES, with_neighbours

    clips, T = 30, 49
    t = np.arange(T)
    x = np.zeros((clips, T, 3), np.float32)
    loudest = np.random.default_rng(0).integers(0, T, clips)
    x[:, :, 0] = -np.abs(t[None] - loudest[:, None])  # MFCC 0: loudest at `loudest`
    x[:, :, 1] = np.arange(clips)[:, None]  # which clip
    x[:, :, 2] = t[None]  # which frame
    sel = np.arange(clips)
    assert np.array_equal(with_neighbours(x, sel, 0.0, np.random.default_rng(1)), x)
    out = with_neighbours(x, sel, 1.0, np.random.default_rng(1))
    assert np.array_equal(out, with_neighbours(x, sel, 1.0, np.random.default_rng(1)))
    changed = 0
    for i in range(clips):
        same = np.all(out[i] == x[i], axis=1)
        k0 = int(np.argmax(same))  # frames replaced at the start
        k1 = int(np.argmax(same[::-1]))  # and at the end
        assert 0 < k0 <= NEIGHBOUR_FRAMES and 0 < k1 <= NEIGHBOUR_FRAMES
        assert same[k0:T - k1].all()
        for run in (out[i, :k0], out[i, T - k1:]):
            src = int(run[0, 1])
            assert np.all(run[:, 1] == src) and np.all(np.diff(run[:, 2]) == 1)
            # the run lies around its clip's loudest frame
            assert abs(np.median(run[:, 2]) - loudest[src]) <= len(run) // 2 + 1
        changed += k0 + k1
    assert changed > 2 * clips


def test_weight_averaging_keeps_the_average_and_trains_on_the_weights(synth_dir, trained,
                                                                     tmp_path):
    """``train.ema``: best.keras (what is validated, exported and evaluated) holds the
    moving average of the weights; last.keras the weights trained on, with the average in
    its optimizer's state, so a resumed run goes on from both."""
    import dataclasses

    _, _, cache = trained
    cfg = dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, epochs=1, ema=0.9))
    train([synth_dir], tmp_path / "run", cfg, cache_dir=cache, verbose=0)
    best = keras.models.load_model(tmp_path / "run" / "best.keras", safe_mode=True)
    last = keras.models.load_model(tmp_path / "run" / "last.keras", safe_mode=True)
    averages = last.optimizer._model_variables_moving_average
    assert last.optimizer.use_ema and len(averages) == len(last.trainable_variables)
    for var, avg in zip(last.trainable_variables, averages, strict=True):
        b = best.get_layer(var.path.split("/")[0]).weights
        got = next(w for w in b if w.path == var.path).numpy()
        np.testing.assert_allclose(got, avg.numpy(), atol=1e-6)
        # one epoch at momentum 0.9: the average lags the weights
        assert not np.allclose(got, var.numpy(), atol=1e-4), var.path


def test_the_split_is_saved_once_disjoint_and_used_by_evaluate(trained, capsys):
    from speechgru.run_dir import RunDir

    out, m, cache = trained
    splits = RunDir(out).splits()
    paths = {s: {(str(c.path), c.offset) for c in clips} for s, clips in splits.items()}
    speakers = {s: {c.speaker for c in clips} for s, clips in splits.items()}
    names = list(splits)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not paths[a] & paths[b], (a, b)  # disjoint by clip
            assert not speakers[a] & speakers[b], (a, b)  # and by speaker
    # testing_percent=0: nothing is in test, not even background noise
    assert len(splits["validation"]) > 0 and splits["test"] == []
    assert all(c.path.is_absolute() for c in splits["train"])
    rows = json.loads((out / "splits.json").read_text())["validation"]
    assert all(len(r["sha256"]) == 64 for r in rows)
    # evaluate --split validation scores exactly the saved validation clips: the metrics of
    # training's own validation pass
    assert cli(["evaluate", str(out), "--split", "validation", "--json",
                "--cache-dir", str(cache)]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["clips"] == len(splits["validation"]) and ev["top1"] == m["accuracy"]
    # ...at the operating point training chose on those same clips
    point = m["operating_point"]
    assert ev["threshold"] == point["threshold"] and ev["operating_point"] == point
    assert ev["false_accept_rate"] == point.get("clip_false_accept_rate")
    assert cli(["evaluate", str(out), "--split", "test", "--json",
                "--cache-dir", str(cache)]) == 2
    err = capsys.readouterr().err
    assert "test" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_custom_keywords_from_recorded_and_synthetic_speech(tmp_path, capsys):
    """Two words that are not in Speech Commands, one a phrase: takes recorded (a session
    of one synthetic voice played back as the microphone), then `train --words` adds the
    recipe's synthetic speech of those words and of their near-misses by itself."""
    import soundfile as sf

    from speechgru.synth import is_synthetic
    from speechgru.synth.espeak import Voice, speak_fresh

    voice = Voice(accent="en-us", variant="", pitch=50, pitch_range=50, rate=150)
    jobs = [(w, voice) for _ in range(3) for w in ("marvin", "lights on")]
    rate, speech = speak_fresh([(w, voice) for w, voice in jobs])
    gap = np.random.default_rng(0).normal(0, 1e-3, rate).astype(np.float32)
    marvins = [s for (w, _), s in zip(jobs, speech, strict=True) if w == "marvin"]
    lights = [s for (w, _), s in zip(jobs, speech, strict=True) if w == "lights on"]
    session = np.concatenate([gap] + [x for s in marvins + lights for x in (0.5 * s, gap)])
    sf.write(tmp_path / "session.wav", session, rate, subtype="PCM_16")
    assert cli(["record", str(tmp_path / "mine"), "--words", "marvin,lights_on",
                "--per-word", "3", "--speaker", "me1", "--input",
                str(tmp_path / "session.wav")]) == 0
    config = {"model": {"units": [64], "dropout": 0.0},
              "train": {"epochs": 40, "batch_size": 32, "synth_per_word": 40, "patience": 100,
                        "validation_percent": 20.0, "testing_percent": 0.0,
                        "learning_rate": 0.01, "label_smoothing": 0.0}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert cli(["train", "--data", str(tmp_path / "mine"), "--words", "marvin,lights_on",
                "--out", str(tmp_path / "run"), "--config", str(tmp_path / "config.json"),
                "--cache-dir", str(tmp_path / "cache")]) == 0
    assert "making the recipe's synthetic speech" in capsys.readouterr().out
    run = tmp_path / "run"
    assert (run / "labels.txt").read_text().split() == ["_silence_", "_unknown_", "marvin",
                                                         "lights_on"]
    sources = json.loads((run / "data.json").read_text())["sources"]
    synth = Path(sources[1])
    assert len(sources) == 2 and is_synthetic(synth)
    for near in ("barvin", "lights"):  # negatives that sound like the keywords
        assert (synth / near).is_dir()
    # the run recognises both words on voices it did not train on (9 clips each; measured
    # 0.67 and 1.0 with 64 units: 32 were at the edge, 1.0 and 0.22 on another draw of
    # the synthetic speech); a constant predictor finds none of one of them
    metrics = json.loads((run / "metrics.json").read_text())
    recalls = [metrics["per_class"][w]["recall"] for w in ("marvin", "lights_on")]
    assert min(recalls) >= 1 / 3 and np.mean(recalls) >= 0.45, metrics["per_class"]


def test_training_progress_in_a_log_is_a_line_every_tenth_of_the_epochs(capsys):
    from speechgru.training.train import epoch_printer

    show = epoch_printer(30)
    state = {"best": 0.5, "best_epoch": 2}
    for e in range(1, 26):
        show({"epoch": e, "loss": 1.0, "val_accuracy": 0.5, "val_balanced_accuracy": 0.4,
              "seconds": 1.0}, state, last=e == 25)  # stopped early at 25
    lines = capsys.readouterr().out.splitlines()
    assert [int(line.split()[1].split("/")[0]) for line in lines] == [3, 6, 9, 12, 15, 18,
                                                                        21, 24, 25]
    assert all("/30" in line and "best 0.500 (epoch 2)" in line for line in lines)


def test_mixup_mixes_features_and_targets_by_one_weight_each_own_label_first():
    """``train.mixup``: each row is ``lam * itself + (1 - lam) * another row of the batch`` in
    its features and its target alike, ``lam >= 0.5``, so a one-hot row keeps its own label
    as the larger part; targets stay distributions; the same generator, the same batch."""
    from speechgru.training.sampling import _one_hot, mixed

    rng = np.random.default_rng(3)
    n, T, F, classes = 64, 5, 4, 12
    x = rng.normal(size=(n, T, F)).astype(np.float32)
    y = rng.integers(0, classes, n)
    t = _one_hot(y, classes)
    xm, tm = mixed(x, t, 0.4, np.random.default_rng(9))
    xm2, tm2 = mixed(x, t, 0.4, np.random.default_rng(9))
    assert np.array_equal(xm, xm2) and np.array_equal(tm, tm2)
    np.testing.assert_allclose(tm.sum(1), 1.0, atol=1e-6)
    lams = []
    for i in range(n):
        # the partner row and the weight, recovered from the features alone
        fits = []
        for j in range(n):
            d = (x[i] - x[j]).ravel()
            lam = 1.0 if i == j else float(np.dot((xm[i] - x[j]).ravel(), d) / np.dot(d, d))
            fits.append((np.abs(lam * x[i] + (1 - lam) * x[j] - xm[i]).max(), j, lam))
        err, j, lam = min(fits)
        assert err < 1e-5 and 0.5 - 1e-6 <= lam <= 1 + 1e-6
        np.testing.assert_allclose(tm[i], lam * t[i] + (1 - lam) * t[j], atol=1e-5)
        assert tm[i, y[i]] >= 0.5 - 1e-6
        lams.append(lam)
    assert np.mean(np.array(lams) < 0.95) > 0.2  # it mixes, not only copies


def test_early_stopping_waits_for_the_share_of_the_schedule_it_is_given(synth_dir, tmp_path):
    """``patience`` acts from ``early_stop_from`` of the epochs on: a run that stops
    improving at once (a learning rate of 1e-9) would stop after ``patience`` = 1 more
    epoch, at epoch 2; with half of 6 epochs to go first it stops at epoch 3."""
    import dataclasses

    tc = dataclasses.replace(TINY.train, epochs=6, patience=1, learning_rate=1e-9,
                             min_learning_rate=1e-10, early_stop_from=0.5)
    train([synth_dir], tmp_path / "run", dataclasses.replace(TINY, train=tc),
          cache_dir=tmp_path / "cache", verbose=0)
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert (state["epoch"], state["stopped_early"], state["best_epoch"]) == (3, True, 1)
